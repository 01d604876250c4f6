/**
 * scripts/scale.sh restart under load: two instances of the payments service behind HAProxy,
 * a load of POSTs (each with an Idempotency-Key, some replayed) and GETs through the balancer,
 * while every instance is drained in HAProxy, stopped with SIGTERM and started again in turn.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { startPaymentLoad, type LoadOutcome } from './lib/payment-load.js';
import { scaleRequirements, startScaleCluster, type ScaleCluster } from './lib/scale-cluster.js';

const req = await scaleRequirements();

/** Resolves once `condition()` holds, checking every 50 ms; rejects after `limitMs`. */
async function until(condition: () => boolean, what: string, limitMs = 60_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('rolling restart behind HAProxy', { skip: req.skip }, () => {
  let cluster: ScaleCluster;
  let pidsBefore: number[];
  let pidsAfter: number[];
  let outcome: LoadOutcome;
  let answeredDuringRestart = 0;

  before(async () => {
    cluster = await startScaleCluster({
      adminUrl: req.adminUrl,
      redisUrl: req.redisUrl,
      instances: 2,
      // Charges take 5-40 ms, so requests are in flight whenever an instance is drained. Load
      // shedding is off: on a shared 2-core machine a starting process stalls its event loop
      // past the shedding threshold, and a 503 OVERLOADED is the shedder's answer, not a request
      // the restart lost (docs/scale.md).
      env: {
        GATEWAY_LATENCY: 'uniform:5-40',
        GATEWAY_FAILURE_RATE: '0',
        SHEDDING: 'off',
        LOG_LEVEL: 'warn',
      },
    });
    pidsBefore = cluster.instancePids();
    const load = startPaymentLoad(cluster.lbUrl, 8);
    try {
      await until(() => load.answered >= 100, 'the load to get going');
      const atStart = load.answered;
      await cluster.script('restart');
      answeredDuringRestart = load.answered - atStart;
      const atEnd = load.answered;
      // Both new processes serve before the load stops.
      await until(() => load.answered >= atEnd + 100, 'requests after the restart');
    } finally {
      outcome = await load.stop();
    }
    pidsAfter = cluster.instancePids();
  });

  after(async () => {
    await cluster?.stop();
  });

  test('every instance is replaced by a new process, one at a time', () => {
    assert.equal(pidsAfter.length, 2);
    for (const [i, pid] of pidsAfter.entries()) assert.notEqual(pid, pidsBefore[i]);
  });

  test('every request through HAProxy is answered with a success while instances restart', (t) => {
    t.diagnostic(
      `${outcome.posts} POSTs, ${outcome.gets} GETs, ${outcome.replays} replays; ${answeredDuringRestart} answered during the restart`,
    );
    assert.ok(answeredDuringRestart > 0, 'requests were answered during the restart');
    assert.deepEqual(outcome.failures, []);
    assert.ok(outcome.posts > 0 && outcome.gets > 0 && outcome.replays > 0);
  });

  test('every acknowledged payment is in the database exactly once, under its idempotency key', async () => {
    const client = new pg.Client({ connectionString: cluster.databaseUrl });
    await client.connect();
    try {
      const { rows } = await client.query<{ idempotency_key: string; id: string; n: string }>(
        `SELECT idempotency_key, min(id::text) AS id, count(*) AS n FROM payments
         WHERE idempotency_key LIKE 'scale-%' GROUP BY idempotency_key`,
      );
      const stored = new Map(rows.map((r) => [r.idempotency_key, r]));
      assert.equal(stored.size, outcome.acknowledged.size, 'one row per acknowledged key, no more');
      for (const [key, id] of outcome.acknowledged) {
        const row = stored.get(key);
        assert.ok(row, `payment ${id} (${key}) is stored`);
        assert.equal(Number(row.n), 1, `${key} stored once`);
        assert.equal(row.id, id, `${key} stored as the acknowledged payment`);
      }
    } finally {
      await client.end();
    }
  });
});
