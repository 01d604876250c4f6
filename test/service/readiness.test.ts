import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startEmbedded, type EmbeddedDatabase } from 'hotpath/db';
import type { FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import type { ReadinessCheck } from '../../service/app.js';
import { buildTestApp, buildTestService } from '../helpers/app.js';
import { startTestService, type TestService } from '../helpers/payments-service.js';
import { redisForTests } from '../helpers/services.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';

const gateway = {
  charge: () => Promise.resolve({ status: 'authorized' as const, reference: 'ch_x' }),
};
const config = {};
const redisServer = await redisForTests();

async function metricLines(app: FastifyInstance): Promise<string[]> {
  const res = await app.inject({ method: 'GET', url: '/metrics' });
  assert.equal(res.statusCode, 200);
  return res.body.split('\n').filter((l) => l.startsWith('payments_dependency_up{'));
}

describe('readiness with extra checks', () => {
  let db: EmbeddedDatabase;
  before(async () => {
    db = await startEmbedded({ dataDir: 'memory://' });
  });
  after(async () => {
    await db.close();
  });

  const cases: [string, ReadinessCheck[], number, Record<string, unknown>][] = [
    [
      'a non-critical check that fails degrades: 200',
      [
        {
          name: 'gateway',
          critical: false,
          check: () => Promise.reject(new Error('simulator exited (code 1)')),
        },
      ],
      200,
      {
        status: 'degraded',
        checks: { database: 'ok', gateway: 'degraded: simulator exited (code 1)' },
      },
    ],
    [
      'a non-critical check that passes: ready',
      [{ name: 'gateway', critical: false, check: () => Promise.resolve() }],
      200,
      { status: 'ready', checks: { database: 'ok', gateway: 'ok' } },
    ],
    [
      'a critical check that fails: 503 naming it',
      [
        {
          name: 'ledger',
          critical: true,
          check: () => Promise.reject(new Error('disk full')),
        },
      ],
      503,
      {
        code: 'SERVICE_UNAVAILABLE',
        message: 'ledger is down: disk full',
        checks: { database: 'ok', ledger: 'down: disk full' },
      },
    ],
    [
      'a non-critical check that hangs degrades, named by its timeout',
      [{ name: 'gateway', critical: false, check: () => new Promise<void>(() => {}) }],
      200,
      {
        status: 'degraded',
        checks: { database: 'ok', gateway: 'degraded: timed out after 1000 ms' },
      },
    ],
  ];
  for (const [name, checks, status, body] of cases) {
    test(name, async () => {
      const app = await buildTestApp(config, { db, gateway, checks });
      try {
        const res = await app.inject({ method: 'GET', url: '/health/ready' });
        assert.equal(res.statusCode, status);
        assert.deepEqual(res.json(), body);
      } finally {
        await app.close();
      }
    });
  }

  test('the gauge and the dashboard show each dependency after a check', async () => {
    const { app, observability } = await buildTestService(config, {
      db,
      gateway,
      redis: { ping: () => Promise.reject(new Error('connection refused')) },
      checks: [{ name: 'gateway', critical: false, check: () => Promise.resolve() }],
    });
    try {
      await app.inject({ method: 'GET', url: '/health/ready' });
      assert.deepEqual((await metricLines(app)).sort(), [
        'payments_dependency_up{dependency="database"} 1',
        'payments_dependency_up{dependency="gateway"} 1',
        'payments_dependency_up{dependency="redis"} 0',
      ]);
      assert.ok(observability.dashboard.panels().some((p) => p.id === 'dependencies'));
    } finally {
      await app.close();
    }
  });

  test('two checks with one name are refused', async () => {
    await assert.rejects(
      buildTestApp(config, {
        db,
        gateway,
        checks: [{ name: 'database', critical: false, check: () => Promise.resolve() }],
      }),
      /two readiness checks are named "database"/,
    );
  });
});

describe('Redis killed under load', { skip: redisServer.skip }, () => {
  let proxy: TcpProxy;
  let redis: Redis;
  let svc: TestService;
  let app: FastifyInstance;
  before(async () => {
    const target = new URL(redisServer.url);
    proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port) });
    // As service/main.ts connects: no offline queue, one retry, errors left to readiness.
    redis = new Redis(proxy.url(redisServer.url), {
      lazyConnect: true,
      maxRetriesPerRequest: 1,
      enableOfflineQueue: false,
    });
    redis.on('error', () => {});
    await redis.connect();
    svc = await startTestService({ kind: 'pglite' });
    await svc.app.close();
    app = await buildTestApp(config, {
      db: svc.db,
      gateway: svc.gateway,
      redis,
      cacheRedis: redis,
    });
  });
  after(async () => {
    await app?.close();
    await svc?.close();
    redis?.disconnect();
    await proxy?.close();
  });

  const create = (i: number) =>
    app.inject({
      method: 'POST',
      url: '/api/payments',
      headers: { 'content-type': 'application/json' },
      payload: { user_id: 40 + (i % 5), amount: 100 + i, currency: 'EUR' },
    });

  test('payments are served and readiness says 200 degraded with Redis named', async () => {
    const before = await Promise.all(Array.from({ length: 10 }, (_, i) => create(i)));
    for (const res of before) assert.equal(res.statusCode, 201, res.body);
    const ready = await app.inject({ method: 'GET', url: '/health/ready' });
    assert.deepEqual(ready.json(), { status: 'ready', checks: { database: 'ok', redis: 'ok' } });

    await proxy.stop();
    const writes = await Promise.all(Array.from({ length: 20 }, (_, i) => create(100 + i)));
    const reads = await Promise.all([
      ...before.map((res) =>
        app.inject({ method: 'GET', url: `/api/payments/${res.json().id as string}` }),
      ),
      ...Array.from({ length: 5 }, (_, i) =>
        app.inject({ method: 'GET', url: `/api/users/${40 + i}/summary` }),
      ),
    ]);
    for (const res of writes) assert.equal(res.statusCode, 201, res.body);
    for (const res of reads) assert.equal(res.statusCode, 200, res.body);

    const degraded = await app.inject({ method: 'GET', url: '/health/ready' });
    assert.equal(degraded.statusCode, 200);
    assert.equal(degraded.json().status, 'degraded');
    assert.equal(degraded.json().checks.database, 'ok');
    assert.match(degraded.json().checks.redis, /^degraded: /);
    assert.ok((await metricLines(app)).includes('payments_dependency_up{dependency="redis"} 0'));
  });
});
