import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { decodePprof } from 'hotpath/profile';
import { loadConfig } from '../../service/config.js';
import { buildTestApp } from '../helpers/app.js';
import { startTestService, type TestService } from '../helpers/payments-service.js';

describe('payments service profiling endpoints', () => {
  let service: TestService;
  before(async () => {
    service = await startTestService({ kind: 'pglite' });
  });
  after(() => service.close());

  test('are on by default and serve loopback clients', async () => {
    const index = await service.app.inject({ method: 'GET', url: '/debug/pprof/' });
    assert.equal(index.statusCode, 200);
    assert.match(index.body, /flamegraph/);
    const profile = await service.app.inject({
      method: 'GET',
      url: '/debug/pprof/profile?seconds=0.2',
    });
    assert.equal(profile.statusCode, 200);
    assert.ok(decodePprof(profile.rawPayload).sampleType.length === 2);
  });

  test('refuse non-loopback and proxied clients', async () => {
    const remote = await service.app.inject({
      method: 'GET',
      url: '/debug/pprof/handles',
      remoteAddress: '203.0.113.9',
    });
    assert.equal(remote.statusCode, 403);
    const proxied = await service.app.inject({
      method: 'GET',
      url: '/debug/pprof/handles',
      headers: { 'x-forwarded-for': '203.0.113.9' },
    });
    assert.equal(proxied.statusCode, 403);
  });

  test('PROFILING=off registers no profiling route; other values are a config error', async () => {
    assert.equal(loadConfig({}).profiling, 'on');
    assert.equal(loadConfig({ PROFILING: 'off' }).profiling, 'off');
    assert.throws(() => loadConfig({ PROFILING: 'maybe' }), /^ConfigError: PROFILING/);
    const app = await buildTestApp(
      { profiling: 'off' },
      { db: service.db, gateway: service.gateway },
    );
    try {
      assert.equal((await app.inject({ method: 'GET', url: '/debug/pprof/' })).statusCode, 404);
    } finally {
      await app.close();
    }
  });
});
