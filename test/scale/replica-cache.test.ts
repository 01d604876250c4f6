/**
 * The payments service with its cache on, on a PostgreSQL primary with a streaming replica:
 * cache fills read the replica only when it has replayed the owner's last write, so a read
 * through the cache right after a write never caches (nor answers) the state before it, on
 * the instance that wrote or on another one sharing Redis.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { connectPostgres, migrate, parseLsn, ReplicaRouter, type Database } from 'hotpath/db';
import { Redis } from 'ioredis';
import { buildTestApp } from '../helpers/app.js';
import { migrations } from '../../service/migrations/index.js';
import { redisForTests } from '../helpers/services.js';
import { pgPairOrSkip, startPgPair, type PgPair } from './lib/pg-pair.js';
import { calls, until } from './lib/replica-checks.js';

const redisServer = await redisForTests();
const skip = pgPairOrSkip() || redisServer.skip;

interface Summary {
  payments: number;
  by_status: Record<string, number>;
}

const SUMMARY_QUERY = '%FROM payments WHERE user_id = $1 GROUP BY currency, status%';

describe('cache fills on a read replica', { skip }, () => {
  let pair: PgPair;
  let primary: Database;
  let replica: Database;
  let redis: Redis;
  /** Two instances with the cache on, sharing Redis (L2, invalidation, write positions). */
  let apps: [FastifyInstance, FastifyInstance];

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
    redis = new Redis(redisServer.url, { lazyConnect: true });
    await redis.connect();
    let n = 0;
    const gateway = {
      charge: () => Promise.resolve({ status: 'authorized' as const, reference: `ch_${++n}` }),
    };
    const config = { cache: 'on' as const };
    apps = [
      await buildTestApp(config, { db: primary, replica, gateway, cacheRedis: redis }),
      await buildTestApp(config, { db: primary, replica, gateway, cacheRedis: redis }),
    ];
  });

  after(async () => {
    for (const a of apps ?? []) await a.close();
    redis?.disconnect();
    await primary?.close();
    await replica?.close();
    await pair?.stop();
  });

  test('the control: a fill that ignores the write position, right after a write, reads a state without it at least once in 100', async () => {
    const router = new ReplicaRouter({ primary, replica });
    try {
      await until(async () => (await router.poll(), router.stats.replicaAvailable), 'a poll');
      let stale = 0;
      for (let i = 0; i < 100; i++) {
        await primary.query(
          `INSERT INTO payments (id, user_id, amount, currency, status)
           VALUES (gen_random_uuid(), 800000, 100, 'EUR', 'authorized')`,
        );
        const count = await router.fill(
          async () => {
            const { rows } = await router.writer.query<{ n: string }>(
              'SELECT count(*) AS n FROM payments WHERE user_id = 800000',
            );
            return Number(rows[0]!.n);
          },
          // No owner: nothing holds the fill back, as if it had no write position to check.
          () => [],
        );
        if (count < i + 1) stale++;
      }
      assert.ok(stale > 0, `${stale} of 100 fills missed the write before them`);
    } finally {
      await router.close();
    }
  });

  test('a read through the cache right after each of 100 writes sees it, on the instance that wrote and on the other, and so does the cached value after it', async () => {
    const [a, b] = apps;
    const counts = new Map<number, number>();
    for (let i = 0; i < 100; i++) {
      const user = 600_000 + (i % 10);
      // The summary is cached before the write: the write must invalidate it, and the fill
      // after the invalidation must not come from a replica that lacks the write.
      const warm = await b.inject({ url: `/api/users/${user}/summary` });
      assert.equal(warm.statusCode, 200, warm.body);
      assert.equal(warm.json<Summary>().payments, counts.get(user) ?? 0, `write ${i}: before`);
      const writer = i % 2 === 0 ? a : b;
      const created = await writer.inject({
        method: 'POST',
        url: '/api/payments',
        headers: { 'idempotency-key': `fill-${i}` },
        payload: { user_id: user, amount: 100 + i, currency: 'EUR' },
      });
      assert.equal(created.statusCode, 201, created.body);
      const id = created.json<{ id: string }>().id;
      counts.set(user, (counts.get(user) ?? 0) + 1);
      for (const [name, app] of [
        ['the writer', writer],
        ['the other instance', writer === a ? b : a],
      ] as const) {
        // No X-Client-Id: the request's only caller is the user, and the payment by id has
        // no caller at all; only the fill's own check keeps the replica out.
        for (const pass of ['fill', 'cached']) {
          const summary = await app.inject({ url: `/api/users/${user}/summary` });
          assert.equal(
            summary.json<Summary>().payments,
            counts.get(user),
            `write ${i}, ${name}, ${pass}: the summary counts it`,
          );
          const byId = await app.inject({ url: `/api/payments/${id}` });
          assert.equal(byId.statusCode, 200, `write ${i}, ${name}, ${pass}: ${byId.body}`);
          assert.equal(
            byId.json<{ status: string }>().status,
            'authorized',
            `write ${i}, ${name}, ${pass}: the payment's final status`,
          );
        }
      }
    }
  });

  test('fills of users with no recent write are served by the replica', async () => {
    const [a] = apps;
    // Written through the primary directly, long enough ago for the replica to have them.
    await primary.query(
      `INSERT INTO payments (id, user_id, amount, currency, status)
       SELECT gen_random_uuid(), 500000 + g, 100, 'EUR', 'authorized' FROM generate_series(1, 20) AS g`,
    );
    const router = new ReplicaRouter({ primary, replica });
    try {
      const { rows } = await primary.query<{ lsn: string }>(
        'SELECT pg_current_wal_insert_lsn()::text AS lsn',
      );
      await until(async () => {
        await router.poll();
        const replayed = router.stats.replayLsn;
        return replayed !== null && replayed >= parseLsn(rows[0]!.lsn);
      }, 'the replica to replay the inserts');
    } finally {
      await router.close();
    }
    // The service's own router polls every 100 ms.
    await new Promise((r) => setTimeout(r, 300));
    const onReplica = await calls(pair.replicaUrl, SUMMARY_QUERY);
    const onPrimary = await calls(pair.primaryUrl, SUMMARY_QUERY);
    for (let u = 1; u <= 20; u++) {
      const res = await a.inject({ url: `/api/users/${500000 + u}/summary` });
      assert.equal(res.statusCode, 200);
      assert.equal(res.json<Summary>().payments, 1, `user ${500000 + u}`);
    }
    assert.equal((await calls(pair.replicaUrl, SUMMARY_QUERY)) - onReplica, 20);
    assert.equal((await calls(pair.primaryUrl, SUMMARY_QUERY)) - onPrimary, 0);
    const text = (await a.inject({ url: '/metrics' })).body;
    const fills = Number(/^payments_db_replica_fills_total (\S+)$/m.exec(text)?.[1]);
    assert.ok(fills >= 20, `payments_db_replica_fills_total ${fills}`);
  });
});
