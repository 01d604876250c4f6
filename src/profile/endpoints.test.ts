import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import Fastify from 'fastify';
import { keepBusy, plantedHotLoop } from '../../test/fixtures/profile/workload.js';
import { InvalidOptionError } from '../errors/index.js';
import { checkAccess, tokensEqual } from './access.js';
import { ProfilingEndpoints } from './endpoints.js';
import type { ProfilingEndpointsOptions } from './endpoints.js';
import { fastifyProfiling } from './fastify-plugin.js';
import { decodePprof } from './pprof.js';
import { Profiler } from './profiler.js';

const TOKEN = 'a-long-enough-test-token';

async function serve(
  options: ProfilingEndpointsOptions,
): Promise<{ base: string; close: () => Promise<void> }> {
  const endpoints = new ProfilingEndpoints(options);
  const server = createServer((req, res) => {
    endpoints.handle(req, res).then(
      (handled) => {
        if (!handled) res.writeHead(404).end('app route');
      },
      (error: unknown) => res.destroy(error as Error),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    base: `http://127.0.0.1:${port}`,
    close: async () => {
      await endpoints.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

function fakeRequest(remoteAddress: string, headers: Record<string, string> = {}): IncomingMessage {
  return { socket: { remoteAddress }, headers } as unknown as IncomingMessage;
}

describe('profiling endpoints over node:http', () => {
  const profiler = new Profiler();
  let open: { base: string; close: () => Promise<void> };
  let short: { base: string; close: () => Promise<void> };
  before(async () => {
    open = await serve({ enabled: true, profiler });
    short = await serve({
      enabled: true,
      // Tell the cost check there is almost no memory left.
      profiler: { memory: { usedHeapBytes: () => 100 * 1048576, freeBytes: () => 10 * 1048576 } },
    });
  });
  after(async () => {
    await open.close();
    await short.close();
    await profiler.close();
  });

  test('are off unless enabled: requests fall through to the application', async () => {
    const off = await serve({});
    try {
      const res = await fetch(`${off.base}/debug/pprof/`);
      assert.equal(res.status, 404);
      assert.equal(await res.text(), 'app route');
    } finally {
      await off.close();
    }
  });

  test('the index page lists the endpoints', async () => {
    const res = await fetch(`${open.base}/debug/pprof/`);
    assert.equal(res.status, 200);
    const html = await res.text();
    for (const name of ['profile', 'heap', 'heapsnapshot', 'flamegraph', 'handles'])
      assert.match(html, new RegExp(`/debug/pprof/${name}`));
  });

  test('/profile answers gzip pprof with samples; a concurrent second request gets 409', async () => {
    const first = fetch(`${open.base}/debug/pprof/profile?seconds=1`);
    // The server runs in this process: wait until it has started the first profile.
    while (!profiler.isBusy('cpu')) await new Promise((resolve) => setImmediate(resolve));
    const second = await fetch(`${open.base}/debug/pprof/profile?seconds=1`);
    assert.equal(second.status, 409);
    assert.equal(((await second.json()) as { code: string }).code, 'HP_ERR_PROFILE_BUSY');
    const res = await keepBusy(first, plantedHotLoop);
    assert.equal(res.status, 200);
    const profile = decodePprof(new Uint8Array(await res.arrayBuffer()));
    assert.ok(profile.sample.length > 0);
    assert.ok(profile.stringTable.strings.includes('plantedHotLoop'));
  });

  test('?format=cpuprofile answers Chrome DevTools JSON', async () => {
    const res = await fetch(`${open.base}/debug/pprof/profile?seconds=0.2&format=cpuprofile`);
    assert.equal(res.status, 200);
    const profile = (await res.json()) as { nodes: unknown[]; samples: unknown[] };
    assert.ok(Array.isArray(profile.nodes) && profile.nodes.length > 0);
  });

  test('/heap answers an in-use pprof heap profile; an unknown worker gets 404', async () => {
    const res = await fetch(`${open.base}/debug/pprof/heap?seconds=0.2`);
    assert.equal(res.status, 200);
    const profile = decodePprof(new Uint8Array(await res.arrayBuffer()));
    const strings = profile.stringTable.strings;
    assert.deepEqual(
      profile.sampleType.map((t) => strings[Number(t.type)]),
      ['inuse_objects', 'inuse_space'],
    );
    const missing = await fetch(`${open.base}/debug/pprof/profile?seconds=0.1&worker=nobody`);
    assert.equal(missing.status, 404);
    assert.equal(
      ((await missing.json()) as { code: string }).code,
      'HP_ERR_PROFILE_WORKER_NOT_FOUND',
    );
  });

  test('bad parameters get a 400 JSON error', async () => {
    for (const query of ['seconds=0', 'seconds=abc', 'seconds=3600', 'format=svg']) {
      const res = await fetch(`${open.base}/debug/pprof/profile?${query}`);
      assert.equal(res.status, 400, query);
      assert.equal(((await res.json()) as { code: string }).code, 'HP_ERR_PROFILE_REQUEST');
    }
    const missing = await fetch(`${open.base}/debug/pprof/nothing`);
    assert.equal(missing.status, 404);
    await missing.arrayBuffer();
  });

  test('the heap snapshot cost guard refuses when memory is short, unless forced', async () => {
    const res = await fetch(`${short.base}/debug/pprof/heapsnapshot`);
    assert.equal(res.status, 503);
    const body = (await res.json()) as {
      code: string;
      message: string;
      estimate: { freeBytes: number };
    };
    assert.equal(body.code, 'HP_ERR_PROFILE_SNAPSHOT_REFUSED');
    assert.match(body.message, /force=1/);
    assert.equal(body.estimate.freeBytes, 10 * 1048576);
  });

  test('a heap snapshot with room to spare streams .heapsnapshot JSON', async () => {
    const res = await fetch(`${open.base}/debug/pprof/heapsnapshot`);
    assert.equal(res.status, 200);
    const text = await res.text();
    assert.ok(text.startsWith('{"snapshot":'));
  });

  test('/flamegraph answers a self-contained page naming the hot function', async () => {
    const res = await keepBusy(
      fetch(`${open.base}/debug/pprof/flamegraph?seconds=0.5`),
      plantedHotLoop,
    );
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-security-policy') ?? '', /default-src 'none'/);
    const html = await res.text();
    assert.match(html, /plantedHotLoop/);
    assert.doesNotMatch(html, /<script[^>]+src=|<link[^>]+href=/);
  });

  test('/handles summarizes active resources', async () => {
    const res = await fetch(`${open.base}/debug/pprof/handles`);
    assert.equal(res.status, 200);
    const body = (await res.json()) as {
      activeResources: Record<string, number>;
      workers: string[];
    };
    assert.ok(Object.keys(body.activeResources).length > 0);
    assert.ok(Array.isArray(body.workers));
  });

  test('with a token, requests without it or with a wrong one get 401', async () => {
    const guarded = await serve({ enabled: true, token: TOKEN });
    try {
      const none = await fetch(`${guarded.base}/debug/pprof/handles`);
      assert.equal(none.status, 401);
      assert.equal(none.headers.get('www-authenticate'), 'Bearer');
      assert.equal(((await none.json()) as { code: string }).code, 'HP_ERR_PROFILE_UNAUTHORIZED');
      const wrong = await fetch(`${guarded.base}/debug/pprof/handles`, {
        headers: { authorization: `Bearer ${TOKEN}x` },
      });
      assert.equal(wrong.status, 401);
      await wrong.arrayBuffer();
      const right = await fetch(`${guarded.base}/debug/pprof/handles`, {
        headers: { authorization: `Bearer ${TOKEN}` },
      });
      assert.equal(right.status, 200);
      await right.arrayBuffer();
    } finally {
      await guarded.close();
    }
  });
});

describe('access check', () => {
  test('without a token only loopback, unproxied clients are served', () => {
    assert.equal(checkAccess(fakeRequest('127.0.0.1'), {}).allowed, true);
    assert.equal(checkAccess(fakeRequest('::1'), {}).allowed, true);
    assert.equal(checkAccess(fakeRequest('::ffff:127.0.0.1'), {}).allowed, true);
    assert.deepEqual(
      ['10.0.0.7', '192.168.1.2', '::ffff:10.0.0.7', '2001:db8::1'].map(
        (ip) => checkAccess(fakeRequest(ip), {}).allowed,
      ),
      [false, false, false, false],
    );
    const proxied = checkAccess(fakeRequest('127.0.0.1', { 'x-forwarded-for': '203.0.113.9' }), {});
    assert.equal(proxied.allowed, false);
    assert.equal(proxied.allowed === false && proxied.status, 403);
  });

  test('a remote client needs both allowRemote and the token', () => {
    const auth = { authorization: `Bearer ${TOKEN}` };
    assert.equal(checkAccess(fakeRequest('10.0.0.7', auth), { token: TOKEN }).allowed, false);
    assert.equal(
      checkAccess(fakeRequest('10.0.0.7', auth), { token: TOKEN, allowRemote: true }).allowed,
      true,
    );
    assert.equal(
      checkAccess(fakeRequest('10.0.0.7'), { token: TOKEN, allowRemote: true }).allowed,
      false,
    );
    assert.throws(
      () => new ProfilingEndpoints({ enabled: true, allowRemote: true }),
      InvalidOptionError,
    );
    assert.throws(() => new ProfilingEndpoints({ enabled: true, token: 'short' }), {
      option: 'token',
    });
  });

  test('tokens of any length compare without throwing (hashed before timingSafeEqual)', () => {
    assert.equal(tokensEqual(TOKEN, TOKEN), true);
    assert.equal(tokensEqual('', TOKEN), false);
    assert.equal(tokensEqual(TOKEN + TOKEN, TOKEN), false);
  });
});

describe('fastifyProfiling', () => {
  test('serves the endpoints when enabled and registers no route when not', async () => {
    const on = Fastify();
    await on.register(fastifyProfiling, { enabled: true });
    const off = Fastify();
    await off.register(fastifyProfiling, {});
    try {
      const handles = await on.inject({ method: 'GET', url: '/debug/pprof/handles' });
      assert.equal(handles.statusCode, 200);
      assert.ok('activeResources' in (handles.json() as object));
      const index = await on.inject({ method: 'GET', url: '/debug/pprof' });
      assert.equal(index.statusCode, 200);
      assert.equal(
        (await off.inject({ method: 'GET', url: '/debug/pprof/handles' })).statusCode,
        404,
      );
    } finally {
      await on.close();
      await off.close();
    }
  });

  test('passes routeConfig to its routes', async () => {
    const app = Fastify();
    const seen: unknown[] = [];
    app.addHook('onRoute', (route) => {
      if (route.url.startsWith('/debug/pprof')) seen.push(route.config);
    });
    await app.register(fastifyProfiling, { enabled: true, routeConfig: { hotpathMetrics: false } });
    await app.ready();
    await app.close();
    assert.ok(seen.length >= 2); // GET routes, plus the HEAD routes Fastify adds
    for (const config of seen)
      assert.equal((config as { hotpathMetrics?: boolean }).hotpathMetrics, false);
  });

  test('trusting a proxy does not open the endpoints to forwarded traffic', async () => {
    const app = Fastify({ trustProxy: true });
    await app.register(fastifyProfiling, { enabled: true });
    try {
      const res = await app.inject({
        method: 'GET',
        url: '/debug/pprof/handles',
        headers: { 'x-forwarded-for': '203.0.113.9' },
      });
      assert.equal(res.statusCode, 403);
      assert.equal((res.json() as { code: string }).code, 'HP_ERR_PROFILE_FORBIDDEN');
    } finally {
      await app.close();
    }
  });
});
