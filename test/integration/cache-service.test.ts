/**
 * The payments service with its cache on: two app instances sharing one database and one
 * Redis (this file's own redis-server), as two processes behind a load balancer would.
 */
import assert from 'node:assert/strict';
import { invalidationSeen } from '../helpers/cache-invalidation.js';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { type Database, migrate } from 'hotpath/db';
import type { Cache } from 'hotpath/cache';
import { Redis } from 'ioredis';
import { buildTestService } from '../helpers/app.js';
import type { ChargeOutcome } from '../../service/gateway/client.js';
import { migrations } from '../../service/migrations/index.js';
import { openDatabase } from '../helpers/payments-service.js';
import { redisForTests } from '../helpers/services.js';
import { RedisServer } from './cache-redis-server.js';

const available = await redisForTests();
const json = { 'content-type': 'application/json' };

/** A gateway whose charges wait until the test lets them through. */
function gatedGateway(): { charge: () => Promise<ChargeOutcome>; release: () => void } {
  let open!: () => void;
  let gate = new Promise<void>((resolve) => (open = resolve));
  return {
    charge: async () => {
      await gate;
      return { status: 'authorized', reference: 'ch_test' };
    },
    release: () => {
      open();
      gate = Promise.resolve();
    },
  };
}

describe('payments service with CACHE=on and a shared Redis', { skip: available.skip }, () => {
  const server = new RedisServer();
  const clients: Redis[] = [];
  let db: Database;
  let drop: () => Promise<void>;
  let a: FastifyInstance;
  let b: FastifyInstance;
  let bCache: Cache | undefined;
  const gateway = gatedGateway();

  before(async () => {
    await server.start();
    ({ db, drop } = await openDatabase({ kind: 'pglite' }));
    await migrate(db, migrations);
    const app = async (): Promise<{ app: FastifyInstance; cache: Cache | undefined }> => {
      const redis = new Redis(server.url, { maxRetriesPerRequest: 1 });
      redis.on('error', () => undefined);
      clients.push(redis);
      const instance = await buildTestService(
        { cache: 'on' },
        { db, gateway, redis, cacheRedis: redis },
      );
      await instance.app.ready();
      await instance.cache?.ready();
      return instance;
    };
    a = (await app()).app;
    ({ app: b, cache: bCache } = await app());
  });

  after(async () => {
    gateway.release();
    await a?.close();
    await b?.close();
    for (const c of clients) c.disconnect();
    await db?.close();
    await drop?.();
    await server.dispose();
  });

  test('a payment read while pending on one instance is fresh there once another finalizes it', async () => {
    const created = a.inject({
      method: 'POST',
      url: '/api/payments',
      headers: json,
      payload: JSON.stringify({ user_id: 4242, amount: 700, currency: 'EUR' }),
    });
    // Find the pending payment through the user's list, then read it on B: B caches it.
    let id: string | undefined;
    while (id === undefined) {
      const list = await b.inject({ method: 'GET', url: '/api/users/4242/payments' });
      id = (list.json() as { items: { id: string }[] }).items[0]?.id;
      if (id === undefined) await new Promise((resolve) => setImmediate(resolve));
    }
    const pending = await b.inject({ method: 'GET', url: `/api/payments/${id}` });
    assert.equal(pending.json().status, 'pending');
    const summaryBefore = await b.inject({ method: 'GET', url: '/api/users/4242/summary' });
    assert.equal(summaryBefore.json().by_status.pending, 1);

    const seen = invalidationSeen(undefined, `payment:${id}`);
    gateway.release();
    const done = await created;
    assert.equal(done.statusCode, 201);
    assert.equal(done.json().status, 'authorized');
    await seen;
    const fresh = await b.inject({ method: 'GET', url: `/api/payments/${id}` });
    assert.equal(fresh.json().status, 'authorized');
    const again = await a.inject({ method: 'GET', url: `/api/payments/${id}` });
    assert.equal(again.json().status, 'authorized', 'no stale read on the instance that wrote');
    const summary = await b.inject({ method: 'GET', url: '/api/users/4242/summary' });
    assert.equal(summary.json().by_status.authorized, 1);
    assert.equal(summary.json().by_status.pending, 0);
  });

  test('repeated reads are served from the cache and counted in /metrics', async () => {
    const created = await a.inject({
      method: 'POST',
      url: '/api/payments',
      headers: json,
      payload: JSON.stringify({ user_id: 4243, amount: 100, currency: 'USD' }),
    });
    const id = created.json().id as string;
    for (let i = 0; i < 5; i++) {
      const read = await b.inject({ method: 'GET', url: `/api/payments/${id}` });
      assert.equal(read.statusCode, 200);
    }
    assert.ok((bCache?.stats().l1.hits ?? 0) >= 4);
    const metrics = await b.inject({ method: 'GET', url: '/metrics' });
    assert.match(
      metrics.body,
      /hotpath_cache_requests_total\{cache="payments",tier="l1",result="hit"\} [1-9]/,
    );
  });

  test('an unknown payment is still a 404 (cached as "not found" briefly)', async () => {
    const url = '/api/payments/01890a5d-ac96-774b-bcce-b302099a8057';
    for (let i = 0; i < 2; i++) {
      const res = await b.inject({ method: 'GET', url });
      assert.equal(res.statusCode, 404);
      assert.equal(res.json().code, 'PAYMENT_NOT_FOUND');
    }
  });
});

describe('payments service with CACHE=off', () => {
  test('reads go to the database and no cache is built', async () => {
    const { db, drop } = await openDatabase({ kind: 'pglite' });
    await migrate(db, migrations);
    const gateway = gatedGateway();
    gateway.release();
    const { app, cache } = await buildTestService({ cache: 'off' }, { db, gateway });
    try {
      assert.equal(cache, undefined);
      const created = await app.inject({
        method: 'POST',
        url: '/api/payments',
        headers: json,
        payload: JSON.stringify({ user_id: 5, amount: 100, currency: 'EUR' }),
      });
      const read = await app.inject({ method: 'GET', url: `/api/payments/${created.json().id}` });
      assert.equal(read.json().status, 'authorized');
      const metrics = await app.inject({ method: 'GET', url: '/metrics' });
      assert.doesNotMatch(metrics.body, /hotpath_cache_requests_total/);
    } finally {
      await app.close();
      await db.close();
      await drop();
    }
  });
});
