import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { startTestService } from '../helpers/payments-service.js';

const create = (body: unknown) => ({
  method: 'POST' as const,
  url: '/api/payments',
  headers: { 'content-type': 'application/json' },
  payload: JSON.stringify(body),
});

describe('gateway outcomes are stored as final states', () => {
  test('a declined charge is stored as declined with the reason', async () => {
    const svc = await startTestService({ kind: 'pglite' }, { declineRate: 1 });
    try {
      const res = await svc.app.inject(create({ user_id: 1, amount: 100, currency: 'EUR' }));
      assert.equal(res.statusCode, 201);
      assert.equal(res.json().status, 'declined');
      assert.equal(res.json().failure_reason, 'insufficient_funds');
      const stored = await svc.app.inject({ method: 'GET', url: `/api/payments/${res.json().id}` });
      assert.equal(stored.json().status, 'declined');
    } finally {
      await svc.close();
    }
  });

  test('a gateway that always fails leaves the payment failed after the retries, never pending', async () => {
    const svc = await startTestService({ kind: 'pglite' }, { failureRate: 1, retries: 2 });
    try {
      const res = await svc.app.inject(create({ user_id: 1, amount: 100, currency: 'EUR' }));
      assert.equal(res.statusCode, 201);
      assert.equal(res.json().status, 'failed');
      assert.equal(res.json().failure_reason, 'gateway_unavailable');
      const { rows } = await svc.db.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM payments WHERE status = 'pending'",
      );
      assert.equal(rows[0]?.n, 0);
    } finally {
      await svc.close();
    }
  });

  test('after repeated gateway failures the circuit opens and payments fail fast', async () => {
    const svc = await startTestService({ kind: 'pglite' }, { failureRate: 1, retries: 0 });
    try {
      const reasons: string[] = [];
      for (let i = 0; i < 12; i++) {
        const res = await svc.app.inject(create({ user_id: 2, amount: 100 + i, currency: 'EUR' }));
        assert.equal(res.statusCode, 201);
        assert.equal(res.json().status, 'failed');
        reasons.push(res.json().failure_reason);
      }
      // The breaker judges the last 20 attempts once it has seen 10, all failed here.
      assert.deepEqual(reasons.slice(0, 10), Array(10).fill('gateway_unavailable'));
      assert.deepEqual(reasons.slice(10), ['gateway_circuit_open', 'gateway_circuit_open']);
      const metrics = await svc.app.inject({ method: 'GET', url: '/metrics' });
      assert.match(metrics.body, /^payments_gateway_circuit_state 2$/m);
    } finally {
      await svc.close();
    }
  });

  test('a gateway slower than the timeout gives failed with gateway_timeout', async () => {
    const svc = await startTestService(
      { kind: 'pglite' },
      { latency: 'fixed:300', timeoutMs: 50, retries: 1 },
    );
    try {
      const res = await svc.app.inject(create({ user_id: 1, amount: 100, currency: 'EUR' }));
      assert.equal(res.statusCode, 201);
      // The lookup after the last attempt may find the charge made by a timed-out attempt.
      assert.ok(['failed', 'authorized'].includes(res.json().status));
      if (res.json().status === 'failed')
        assert.equal(res.json().failure_reason, 'gateway_timeout');
    } finally {
      await svc.close();
    }
  });

  test('the recovery sweep drives a payment left pending by a crash to a final state', async () => {
    const svc = await startTestService({ kind: 'pglite' });
    try {
      const id = '01a20c8a-d1c0-7000-8dee-fbb25d529e31';
      await svc.db.query(
        `INSERT INTO payments (id, user_id, amount, currency, status, created_at)
         VALUES ($1, 3, 900, 'EUR', 'pending', now() - interval '10 minutes')`,
        [id],
      );
      const recovered = await svc.app.payments.recoverPending(60_000);
      assert.equal(recovered, 1);
      const res = await svc.app.inject({ method: 'GET', url: `/api/payments/${id}` });
      assert.equal(res.json().status, 'authorized');
      assert.equal(await svc.app.payments.recoverPending(60_000), 0);
    } finally {
      await svc.close();
    }
  });
});
