/**
 * Two instances behind HAProxy on a primary and its streaming replica (DATABASE_REPLICA_URL),
 * sharing Redis: a read through the balancer right after each write sees it, whichever
 * instance serves it, while reads of callers that wrote nothing are served by the replica.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { request } from 'undici';
import { pgPairOrSkip, startPgPair, type PgPair } from './lib/pg-pair.js';
import { scaleRequirements, startScaleCluster, type ScaleCluster } from './lib/scale-cluster.js';

const req = await scaleRequirements();
const skip = req.skip || pgPairOrSkip();

describe('read-your-writes through HAProxy on a primary and a replica', { skip }, () => {
  let pair: PgPair;
  let cluster: ScaleCluster;

  before(async () => {
    pair = await startPgPair();
    cluster = await startScaleCluster({
      adminUrl: pair.primaryUrl,
      replicaAdminUrl: pair.replicaUrl,
      redisUrl: req.redisUrl,
      instances: 2,
      env: {
        GATEWAY_LATENCY: 'none',
        GATEWAY_FAILURE_RATE: '0',
        GATEWAY_DECLINE_RATE: '0',
        CACHE: 'off',
      },
    });
  });

  after(async () => {
    await cluster?.stop();
    await pair?.stop();
  });

  test('a read through the balancer right after each of 100 writes sees it', async () => {
    for (let i = 0; i < 100; i++) {
      const user = 800_000 + (i % 10);
      const created = await request(`${cluster.lbUrl}/api/payments`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': `lb-ryw-${i}` },
        body: JSON.stringify({ user_id: user, amount: 100 + i, currency: 'EUR' }),
      });
      assert.equal(created.statusCode, 201);
      const { id } = (await created.body.json()) as { id: string };
      const list = await request(`${cluster.lbUrl}/api/users/${user}/payments?limit=1`);
      const { items } = (await list.body.json()) as { items: { id: string }[] };
      assert.equal(items[0]?.id, id, `write ${i} listed`);
    }
  });

  test('reads of a user nobody wrote for are served by the replica', async () => {
    const replicaDb = new URL(pair.replicaUrl);
    replicaDb.pathname = new URL(cluster.databaseUrl).pathname;
    const client = new pg.Client({ connectionString: replicaDb.toString() });
    await client.connect();
    const count = async () =>
      Number(
        (
          await client.query<{ n: string | null }>(
            `SELECT sum(calls) AS n FROM pg_stat_statements
             WHERE query LIKE '%FROM payments WHERE user_id = $1 ORDER BY id DESC LIMIT $2%'`,
          )
        ).rows[0]!.n ?? 0,
      );
    try {
      const before = await count();
      for (let i = 0; i < 20; i++) {
        const res = await request(`${cluster.lbUrl}/api/users/123456/payments`);
        assert.equal(res.statusCode, 200);
        await res.body.dump();
      }
      assert.equal((await count()) - before, 20);
    } finally {
      await client.end();
    }
  });
});
