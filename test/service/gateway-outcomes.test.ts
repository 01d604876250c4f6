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

  test('a gateway that answers 503 to every attempt leaves the payment pending (202), never failed', async () => {
    const svc = await startTestService({ kind: 'pglite' }, { failureRate: 1, retries: 2 });
    try {
      const res = await svc.app.inject(create({ user_id: 1, amount: 100, currency: 'EUR' }));
      // A 5xx after the request was sent says nothing of the charge: its outcome is unknown.
      assert.equal(res.statusCode, 202);
      assert.equal(res.json().status, 'pending');
      assert.equal(res.headers.location, `/api/payments/${res.json().id}`);
      assert.equal(res.headers['retry-after'], '1');
      const { rows } = await svc.db.query<{ status: string; attempts: number; last_error: string }>(
        'SELECT status, attempts, last_error FROM payments WHERE id = $1',
        [res.json().id],
      );
      assert.deepEqual(rows[0], {
        status: 'pending',
        attempts: 1,
        last_error: 'gateway_unavailable',
      });
    } finally {
      await svc.close();
    }
  });

  test('once the breaker opens, payments fail fast as never sent; the ones sent before stay pending', async () => {
    const svc = await startTestService({ kind: 'pglite' }, { failureRate: 1, retries: 0 });
    try {
      const answers: [number, string, string | null][] = [];
      for (let i = 0; i < 12; i++) {
        const res = await svc.app.inject(create({ user_id: 2, amount: 100 + i, currency: 'EUR' }));
        answers.push([res.statusCode, res.json().status, res.json().failure_reason]);
      }
      // The breaker judges the last 20 charges once it has seen 10, all failed here.
      assert.deepEqual(answers.slice(0, 10), Array(10).fill([202, 'pending', null]));
      assert.deepEqual(answers.slice(10), Array(2).fill([201, 'failed', 'gateway_circuit_open']));
      const metrics = await svc.app.inject({ method: 'GET', url: '/metrics' });
      assert.match(metrics.body, /^payments_gateway_circuit_state 2$/m);
    } finally {
      await svc.close();
    }
  });

  test('the breaker counts charges after their retries: a 50% flaky gateway keeps it closed', async () => {
    const svc = await startTestService({ kind: 'pglite' }, { failureRate: 0.5, retries: 2 });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 60; i++) {
        const res = await svc.app.inject(create({ user_id: 4, amount: 100 + i, currency: 'EUR' }));
        statuses.push(res.statusCode);
        assert.notEqual(res.json().failure_reason, 'gateway_circuit_open', `payment ${i}`);
      }
      assert.equal(svc.gateway.stats.circuit, 'closed');
      // 1 - 0.5^3 = 87.5% of charges succeed within their retries (seeded: fixed count).
      const created = statuses.filter((s) => s === 201).length;
      assert.ok(created >= 45, `${created} of 60 settled at once`);
      assert.deepEqual(new Set(statuses), new Set([201, 202]));
    } finally {
      await svc.close();
    }
  });

  test('a gateway slower than the timeout leaves the payment pending; the reconciler settles it to what the gateway did', async () => {
    const svc = await startTestService(
      { kind: 'pglite' },
      { latency: 'fixed:300', timeoutMs: 50, retries: 1 },
    );
    try {
      const res = await svc.app.inject(create({ user_id: 1, amount: 100, currency: 'EUR' }));
      assert.equal(res.statusCode, 202);
      assert.equal(res.json().status, 'pending');
      const id = res.json().id as string;
      // The timed-out attempts go on at the gateway: wait until it holds the charge.
      for (let i = 0; i < 200; i++) {
        const charge = await fetch(`${svc.gatewayUrl}/v1/charges/${id}`);
        await charge.body?.cancel();
        if (charge.status === 200) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      await svc.db.query('UPDATE payments SET next_attempt_at = now() WHERE id = $1', [id]);
      const sweep = await svc.reconciler.sweep();
      assert.equal(sweep.settled, 1);
      const stored = await svc.app.inject({ method: 'GET', url: `/api/payments/${id}` });
      assert.equal(stored.json().status, 'authorized');
      assert.match(stored.json().gateway_ref, /^ch_/);
    } finally {
      await svc.close();
    }
  });

  test('a reconciler sweep settles a payment left pending by a crash, and a second sweep finds nothing', async () => {
    const svc = await startTestService({ kind: 'pglite' });
    try {
      const id = '01a20c8a-d1c0-7000-8dee-fbb25d529e31';
      await svc.db.query(
        `INSERT INTO payments (id, user_id, amount, currency, status, created_at, next_attempt_at)
         VALUES ($1, 3, 900, 'EUR', 'pending', now() - interval '10 minutes', now() - interval '1 minute')`,
        [id],
      );
      const first = await svc.reconciler.sweep();
      assert.deepEqual([first.claimed, first.settled, first.deferred], [1, 1, 0]);
      const res = await svc.app.inject({ method: 'GET', url: `/api/payments/${id}` });
      assert.equal(res.json().status, 'authorized');
      const second = await svc.reconciler.sweep();
      assert.equal(second.claimed, 0);
      assert.equal(svc.reconciler.stats.pending.count, 0);
    } finally {
      await svc.close();
    }
  });
});
