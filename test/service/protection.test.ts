import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { startEmbedded, migrate } from 'hotpath/db';
import type { ServiceConfig } from '../../service/config.js';
import { buildTestApp } from '../helpers/app.js';
import { GatewayClient } from '../../service/gateway/client.js';
import { migrations } from '../../service/migrations/index.js';
import { startGateway } from '../helpers/payments-service.js';

async function withApp(
  config: Partial<ServiceConfig>,
  run: (app: FastifyInstance) => Promise<void>,
): Promise<void> {
  const db = await startEmbedded({ dataDir: 'memory://' });
  await migrate(db, migrations);
  const gateway = await startGateway();
  const client = new GatewayClient({ url: gateway.url, retries: 0 });
  const app = await buildTestApp(config, { db, gateway: client });
  try {
    await app.ready();
    await run(app);
  } finally {
    await app.close();
    await client.close();
    gateway.server.closeAllConnections();
    await new Promise((r) => gateway.server.close(r));
    await db.close();
  }
}

const pay = (clientId?: string) => ({
  method: 'POST' as const,
  url: '/api/payments',
  headers: {
    'content-type': 'application/json',
    ...(clientId === undefined ? {} : { 'x-client-id': clientId }),
  },
  payload: JSON.stringify({ user_id: 1, amount: 100, currency: 'EUR' }),
});

describe('per-client rate limit on creating payments', () => {
  test('past its burst a client gets 429 RATE_LIMITED with Retry-After and the RateLimit fields; others and reads go on', async () => {
    await withApp({ rateLimitPerSecond: 1, rateLimitBurst: 2 }, async (app) => {
      const a = [
        await app.inject(pay('a')),
        await app.inject(pay('a')),
        await app.inject(pay('a')),
      ];
      assert.deepEqual(
        a.map((r) => r.statusCode),
        [201, 201, 429],
      );
      const limited = a[2]!;
      assert.equal(limited.json().code, 'RATE_LIMITED');
      assert.equal(typeof limited.json().message, 'string');
      assert.equal(limited.headers['retry-after'], '1');
      assert.match(String(limited.headers['ratelimit-policy']), /^"payments";q=\d+;w=\d+/);
      assert.match(String(limited.headers.ratelimit), /^"payments";r=0;t=1$/);
      // Another client id has its own bucket; the address is the key without one.
      assert.equal((await app.inject(pay('b'))).statusCode, 201);
      assert.equal((await app.inject(pay())).statusCode, 201);
      // Reads are not limited.
      const read = await app.inject({ method: 'GET', url: '/api/users/1/payments' });
      assert.equal(read.statusCode, 200);
      assert.equal(read.headers.ratelimit, undefined);
      const metrics = await app.inject({ method: 'GET', url: '/metrics' });
      assert.match(metrics.body, /payments/);
    });
  });

  test('without a limit set (the default of buildApp) nothing is limited', async () => {
    await withApp({}, async (app) => {
      for (let i = 0; i < 5; i++) assert.equal((await app.inject(pay('a'))).statusCode, 201);
    });
  });
});

/** A payment created through a peer at `peer`, the header naming `forwardedFor`. */
const payVia = (peer: string, forwardedFor: string) => ({
  ...pay(),
  remoteAddress: peer,
  headers: { ...pay().headers, 'x-forwarded-for': forwardedFor },
});

describe('the rate limit behind a load balancer (TRUST_PROXY)', () => {
  const balancer = '10.0.0.5';
  const limit = { rateLimitPerSecond: 1, rateLimitBurst: 1 };

  test('with the balancer trusted, each forwarded client has its own bucket', async () => {
    await withApp({ ...limit, trustProxy: [balancer] }, async (app) => {
      assert.equal((await app.inject(payVia(balancer, '203.0.113.1'))).statusCode, 201);
      assert.equal((await app.inject(payVia(balancer, '203.0.113.1'))).statusCode, 429);
      assert.equal((await app.inject(payVia(balancer, '203.0.113.2'))).statusCode, 201);
    });
  });

  test('with no proxy trusted (the default), the socket address is the key and the header changes nothing', async () => {
    await withApp(limit, async (app) => {
      assert.equal((await app.inject(payVia(balancer, '203.0.113.1'))).statusCode, 201);
      assert.equal((await app.inject(payVia(balancer, '203.0.113.2'))).statusCode, 429);
    });
  });

  test('a header spoofed by a peer that is not a trusted balancer changes nothing', async () => {
    await withApp({ ...limit, trustProxy: [balancer] }, async (app) => {
      const stranger = '198.51.100.7';
      assert.equal((await app.inject(payVia(stranger, '203.0.113.1'))).statusCode, 201);
      assert.equal((await app.inject(payVia(stranger, '203.0.113.2'))).statusCode, 429);
      // The balancer's clients keep their own buckets.
      assert.equal((await app.inject(payVia(balancer, '203.0.113.1'))).statusCode, 201);
    });
  });

  test('a trusted loopback balancer does not open the loopback-only endpoints to forwarded requests', async () => {
    await withApp({ trustProxy: ['127.0.0.1'] }, async (app) => {
      for (const url of ['/metrics', '/dashboard', '/debug/pprof/']) {
        const forwarded = await app.inject({
          method: 'GET',
          url,
          remoteAddress: '127.0.0.1',
          headers: { 'x-forwarded-for': '127.0.0.1' },
        });
        assert.equal(forwarded.statusCode, 403, `${url} through the balancer`);
        const direct = await app.inject({ method: 'GET', url, remoteAddress: '127.0.0.1' });
        assert.equal(direct.statusCode, 200, `${url} from loopback directly`);
      }
    });
  });
});

describe('load shedding in the service', () => {
  test('stalls before and just after the server listens are not taken for overload', async () => {
    await withApp({ shedding: 'on', shedDelayMs: 10 }, async (app) => {
      const blockedUntil = Date.now() + 400;
      while (Date.now() < blockedUntil);
      await app.listen({ host: '127.0.0.1', port: 0 });
      for (let i = 0; i < 20; i++) {
        await new Promise((r) => setTimeout(r, 10));
        assert.equal((await app.inject({ method: 'GET', url: '/dashboard' })).statusCode, 200);
      }
    });
  });

  test('after the event loop stalls, low-priority routes get 503 OVERLOADED while health and metrics are served', async () => {
    await withApp({ shedding: 'on', shedDelayMs: 10 }, async (app) => {
      await app.listen({ host: '127.0.0.1', port: 0 });
      // The shedder judges the loop from 2 s after the server listens.
      await new Promise((r) => setTimeout(r, 2200));
      const blockedUntil = Date.now() + 400;
      while (Date.now() < blockedUntil);
      let shed: Awaited<ReturnType<FastifyInstance['inject']>> | undefined;
      for (let i = 0; i < 100 && shed === undefined; i++) {
        await new Promise((r) => setTimeout(r, 10));
        const res = await app.inject({ method: 'GET', url: '/dashboard' });
        if (res.statusCode === 503) shed = res;
        // Never shed, in the same overload.
        assert.equal((await app.inject({ method: 'GET', url: '/health/live' })).statusCode, 200);
        assert.equal((await app.inject({ method: 'GET', url: '/metrics' })).statusCode, 200);
      }
      assert.ok(shed !== undefined, 'the dashboard was shed after a 400 ms stall');
      assert.equal(shed.json().code, 'OVERLOADED');
      assert.equal(typeof shed.json().message, 'string');
      assert.equal(shed.headers['retry-after'], '1');
    });
  });
});
