import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import { describe, test } from 'node:test';
import type { Database } from 'hotpath/db';
import { GatewayClient } from '../../service/gateway/client.js';
import { PaymentRepository } from '../../service/payments/repository.js';
import { PaymentService } from '../../service/payments/payment-service.js';
import { Reconciler } from '../../service/payments/reconciler.js';
import { serviceBackends, startGateway, startTestService } from '../helpers/payments-service.js';

const backends = await serviceBackends();

/** Inserts `n` payments left pending by a crash (due now) and returns their ids. */
async function insertPending(db: Database, n: number): Promise<string[]> {
  const ids = Array.from({ length: n }, () => randomUUID());
  await db.query(
    `INSERT INTO payments (id, user_id, amount, currency, status, created_at, next_attempt_at)
     SELECT id, 7, 100 + ord, 'EUR', 'pending', now() - interval '1 minute', now() - interval '1 second'
     FROM unnest($1::uuid[]) WITH ORDINALITY AS t(id, ord)`,
    [ids],
  );
  return ids;
}

async function statusCounts(db: Database): Promise<Record<string, number>> {
  const { rows } = await db.query<{ status: string; n: number }>(
    'SELECT status, count(*)::int AS n FROM payments GROUP BY status',
  );
  return Object.fromEntries(rows.map((r) => [r.status, r.n]));
}

/** Counts the gateway's requests in flight at once. */
function trackInFlight(server: Server): { max: () => number } {
  let now = 0;
  let max = 0;
  server.on('request', (_req, res) => {
    now++;
    max = Math.max(max, now);
    res.once('close', () => now--);
  });
  return { max: () => max };
}

function close(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });
}

for (const [name, backend, skip] of backends) {
  describe(`reconciler on ${name}`, { skip }, () => {
    test('1,000 pending payments with a 20 ms gateway are settled in one sweep, at most `concurrency` round trips at once', async () => {
      const svc = await startTestService(backend);
      const gateway = await startGateway({ latency: 'fixed:20' });
      const inFlight = trackInFlight(gateway.server);
      // A generous timeout: on a loaded machine a 20 ms answer can take seconds, and a timed-out
      // lookup would leave its payment claimed for the lease and counted twice in the sweep.
      const client = new GatewayClient({
        url: gateway.url,
        retries: 0,
        connections: 64,
        timeoutMs: 60_000,
      });
      const reconciler = new Reconciler({
        payments: svc.payments,
        gateway: client,
        concurrency: 32,
      });
      try {
        await insertPending(svc.db, 1000);
        const sweep = await reconciler.sweep();
        assert.deepEqual([sweep.claimed, sweep.settled, sweep.deferred], [1000, 1000, 0]);
        assert.deepEqual(await statusCounts(svc.db), { authorized: 1000 });
        // Each payment costs a lookup (404) and a charge: two round trips, 32 payments at once.
        assert.ok(inFlight.max() <= 32, `at most 32 in flight, saw ${inFlight.max()}`);
        assert.ok(inFlight.max() > 1, 'round trips overlap');
        console.log(`${name}: 1,000 pending settled in ${sweep.durationMs.toFixed(0)} ms`);
        assert.equal(reconciler.stats.pending.count, 0);
      } finally {
        await reconciler.close();
        await client.close();
        await close(gateway.server);
        await svc.close();
      }
    });

    test('two reconcilers on one database never work on the same payment', async () => {
      const svc = await startTestService(backend, { latency: 'fixed:5' });
      const second = new PaymentService({
        repository: new PaymentRepository(svc.db),
        gateway: svc.gateway,
      });
      const settledBy: string[][] = [[], []];
      const make = (payments: PaymentService, i: number) =>
        new Reconciler({
          payments,
          gateway: svc.gateway,
          batchSize: 20,
          concurrency: 8,
          onSettled: (p) => settledBy[i]!.push(p.id),
        });
      const a = make(svc.payments, 0);
      const b = make(second, 1);
      try {
        const ids = await insertPending(svc.db, 300);
        const [ra, rb] = await Promise.all([a.sweep(), b.sweep()]);
        assert.equal(ra.claimed + rb.claimed, 300);
        const overlap = settledBy[0]!.filter((id) => settledBy[1]!.includes(id));
        assert.deepEqual(overlap, []);
        assert.deepEqual([...settledBy[0]!, ...settledBy[1]!].sort(), ids.sort());
        assert.deepEqual(await statusCounts(svc.db), { authorized: 300 });
      } finally {
        await a.close();
        await b.close();
        await svc.close();
      }
    });
  });
}

describe('reconciler while the gateway cannot answer', () => {
  test('an unreachable gateway leaves every payment pending with a backoff, never failed; they settle once it answers', async () => {
    const svc = await startTestService({ kind: 'pglite' });
    const down = await startGateway();
    const deadUrl = down.url;
    await close(down.server);
    const deadClient = new GatewayClient({ url: deadUrl, retries: 0, timeoutMs: 200 });
    const blind = new Reconciler({
      payments: svc.payments,
      gateway: deadClient,
      backoffMs: 60_000,
    });
    try {
      const ids = await insertPending(svc.db, 40);
      const sweep = await blind.sweep();
      assert.deepEqual([sweep.claimed, sweep.settled, sweep.deferred], [40, 0, 40]);
      const { rows } = await svc.db.query<{ status: string; later: boolean; attempts: number }>(
        `SELECT DISTINCT status, next_attempt_at > now() + interval '20 seconds' AS later, attempts
         FROM payments`,
      );
      assert.deepEqual(rows, [{ status: 'pending', later: true, attempts: 1 }]);
      // Not due yet: a second sweep leaves them alone.
      assert.equal((await blind.sweep()).claimed, 0);

      await svc.db.query('UPDATE payments SET next_attempt_at = now()');
      const settled = await svc.reconciler.sweep();
      assert.equal(settled.settled, 40);
      assert.deepEqual(await statusCounts(svc.db), { authorized: 40 });
      const { rows: charged } = await svc.db.query<{ id: string }>(
        "SELECT id FROM payments WHERE gateway_ref LIKE 'ch_%'",
      );
      assert.deepEqual(charged.map((r) => r.id).sort(), ids.sort());
    } finally {
      await blind.close();
      await deadClient.close();
      await svc.close();
    }
  });

  test('with the breaker open the reconciler neither asks the gateway nor fails a payment', async () => {
    const svc = await startTestService({ kind: 'pglite' });
    const failing = await startGateway({ failureRate: 1 });
    let requests = 0;
    failing.server.on('request', () => requests++);
    const client = new GatewayClient({ url: failing.url, retries: 0, breakerOpenMs: 60_000 });
    const reconciler = new Reconciler({ payments: svc.payments, gateway: client });
    try {
      // Ten failed charges open the breaker.
      for (let i = 0; i < 10; i++) {
        const outcome = await client.charge({ id: randomUUID(), amount: 1, currency: 'EUR' });
        assert.equal(outcome.status, 'unknown');
      }
      assert.equal(client.stats.circuit, 'open');
      const before = requests;
      await insertPending(svc.db, 40);
      const sweep = await reconciler.sweep();
      assert.deepEqual([sweep.settled, sweep.deferred], [0, 40]);
      assert.equal(requests, before, 'no request reached the gateway');
      const { rows } = await svc.db.query<{ status: string; last_error: string }>(
        'SELECT DISTINCT status, last_error FROM payments',
      );
      assert.deepEqual(rows, [{ status: 'pending', last_error: 'gateway_circuit_open' }]);
    } finally {
      await reconciler.close();
      await client.close();
      await close(failing.server);
      await svc.close();
    }
  });

  test('a sweep asked for while one runs joins it instead of starting another', async () => {
    const svc = await startTestService({ kind: 'pglite' }, { latency: 'fixed:20' });
    try {
      await insertPending(svc.db, 50);
      const first = svc.reconciler.sweep();
      const second = svc.reconciler.sweep();
      assert.equal(first, second);
      const result = await first;
      assert.equal(result.claimed, 50);
      assert.equal(svc.reconciler.stats.sweeps, 1);
    } finally {
      await svc.close();
    }
  });
});
