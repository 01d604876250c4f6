/**
 * The payments service on a PostgreSQL primary with a streaming replica (DATABASE_REPLICA_URL):
 * reads go to the replica, and a caller reads its own writes even while the replica lags; a
 * frozen replica (SIGSTOP) sends reads to the primary after a timeout.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { connectPostgres, migrate, type Database } from 'hotpath/db';
import { buildTestApp } from '../helpers/app.js';
import { migrations } from '../../service/migrations/index.js';
import { Redis } from 'ioredis';
import { redisForTests } from '../helpers/services.js';
import { pgPairOrSkip, processTree, startPgPair, type PgPair } from './lib/pg-pair.js';
import { calls, until } from './lib/replica-checks.js';

const redisServer = await redisForTests();
const skip = pgPairOrSkip() || redisServer.skip;

describe('a read replica with read-your-writes', { skip }, () => {
  let pair: PgPair;
  let primary: Database;
  let replica: Database;
  let app: FastifyInstance;
  /** Two instances sharing the write positions in Redis. */
  let shared: [FastifyInstance, FastifyInstance];
  let redis: Redis;

  before(async () => {
    pair = await startPgPair();
    primary = await connectPostgres(pair.primaryUrl, { max: 5 });
    await migrate(primary, migrations);
    replica = await connectPostgres(pair.replicaUrl, { max: 5 });
    await until(
      async () =>
        (await replica.query("SELECT to_regclass('payments') IS NOT NULL AS ok")).rows[0]!.ok ===
        true,
      'the schema on the replica',
    );
    let n = 0;
    app = await buildTestApp(
      // Without the cache every read reaches the database, so each one is routed.
      { cache: 'off' },
      {
        db: primary,
        replica,
        gateway: {
          charge: () => Promise.resolve({ status: 'authorized', reference: `ch_${++n}` }),
        },
      },
    );
    redis = new Redis(redisServer.url, { lazyConnect: true });
    await redis.connect();
    const gateway = {
      charge: () => Promise.resolve({ status: 'authorized' as const, reference: `ch_${++n}` }),
    };
    const config = { cache: 'off' as const };
    shared = [
      await buildTestApp(config, { db: primary, replica, gateway, cacheRedis: redis }),
      await buildTestApp(config, { db: primary, replica, gateway, cacheRedis: redis }),
    ];
  });

  after(async () => {
    for (const pid of pair ? processTree(pair.replicaPid) : []) {
      try {
        process.kill(pid, 'SIGCONT');
      } catch {
        // gone
      }
    }
    await app?.close();
    for (const a of shared ?? []) await a.close();
    redis?.disconnect();
    await primary?.close();
    await replica?.close();
    await pair?.stop();
  });

  test('the replica lags: a plain read on it right after a write misses the write at least once in 100', async () => {
    let misses = 0;
    for (let i = 0; i < 100; i++) {
      const { rows } = await primary.query<{ id: string }>(
        `INSERT INTO payments (id, user_id, amount, currency, status)
         VALUES (gen_random_uuid(), 900000, 100, 'EUR', 'authorized') RETURNING id::text`,
      );
      const found = await replica.query('SELECT 1 FROM payments WHERE id = $1', [rows[0]!.id]);
      if (found.rowCount === 0) misses++;
    }
    assert.ok(misses > 0, `${misses} of 100 reads missed`);
  });

  test('a read right after each of 100 writes sees it: the list of the user and the payment by id', async () => {
    for (let i = 0; i < 100; i++) {
      const user = 1 + (i % 10);
      const created = await app.inject({
        method: 'POST',
        url: '/api/payments',
        headers: { 'idempotency-key': `ryw-${i}`, 'x-client-id': `client-${user}` },
        payload: { user_id: user, amount: 100 + i, currency: 'EUR' },
      });
      assert.equal(created.statusCode, 201, created.body);
      const id = created.json<{ id: string }>().id;
      const list = await app.inject({ url: `/api/users/${user}/payments?limit=1` });
      assert.equal(list.json<{ items: { id: string }[] }>().items[0]?.id, id, `write ${i} listed`);
      const byId = await app.inject({
        url: `/api/payments/${id}`,
        headers: { 'x-client-id': `client-${user}` },
      });
      assert.equal(byId.statusCode, 200);
      assert.equal(byId.json<{ status: string }>().status, 'authorized', `write ${i} final`);
    }
  });

  test('reads of a caller with no recent write are served by the replica', async () => {
    const listQuery = '%FROM payments WHERE user_id = $1 ORDER BY id DESC LIMIT $2%';
    const before = await calls(pair.replicaUrl, listQuery);
    // User 900000 was written through the primary directly, never through this service.
    for (let i = 0; i < 20; i++) {
      const res = await app.inject({ url: '/api/users/900000/payments?limit=5' });
      assert.equal(res.statusCode, 200);
      assert.equal(res.json<{ items: unknown[] }>().items.length, 5);
    }
    assert.equal((await calls(pair.replicaUrl, listQuery)) - before, 20);
  });

  test("/metrics counts the router's replica and primary reads", async () => {
    const text = (await app.inject({ url: '/metrics' })).body;
    const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);
    assert.ok(value('payments_db_replica_reads_total') >= 20);
    assert.ok(value('payments_db_replica_primary_reads_total') >= 100);
    assert.equal(value('payments_db_replica_available'), 1);
  });

  test('with the replica frozen (SIGSTOP), reads are answered from the primary after a timeout, and readiness reports the replica', async () => {
    const frozen = processTree(pair.replicaPid);
    for (const pid of frozen) process.kill(pid, 'SIGSTOP');
    try {
      for (let i = 0; i < 5; i++) {
        const res = await app.inject({ url: '/api/users/900000/payments?limit=5' });
        assert.equal(res.statusCode, 200, res.body);
        assert.equal(res.json<{ items: unknown[] }>().items.length, 5);
      }
      const ready = await app.inject({ url: '/health/ready' });
      assert.equal(ready.statusCode, 200);
      assert.equal(ready.json<{ status: string }>().status, 'degraded');
      assert.notEqual(ready.json<{ checks: Record<string, string> }>().checks.replica, 'up');
    } finally {
      for (const pid of frozen) process.kill(pid, 'SIGCONT');
    }
  });

  test('a read on another instance right after each of 100 writes sees it: the positions are shared in Redis', async () => {
    const [writer, reader] = shared;
    for (let i = 0; i < 100; i++) {
      const user = 700_000 + (i % 10);
      const created = await writer.inject({
        method: 'POST',
        url: '/api/payments',
        headers: { 'idempotency-key': `ryw-shared-${i}` },
        payload: { user_id: user, amount: 100 + i, currency: 'EUR' },
      });
      assert.equal(created.statusCode, 201, created.body);
      const id = created.json<{ id: string }>().id;
      const list = await reader.inject({ url: `/api/users/${user}/payments?limit=1` });
      assert.equal(list.json<{ items: { id: string }[] }>().items[0]?.id, id, `write ${i} listed`);
    }
  });
});
