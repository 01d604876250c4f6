import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { request } from 'undici';
import {
  paymentCount,
  startTestService,
  type TestService,
  serviceBackends,
} from '../helpers/payments-service.js';

const backends = await serviceBackends();

for (const [name, backend, skip] of backends) {
  describe(`idempotent creates over a real socket on ${name}`, { skip }, () => {
    let svc: TestService;
    let base: string;
    before(async () => {
      // A slow gateway keeps the first request in flight while the duplicates arrive.
      svc = await startTestService(backend, { latency: 'fixed:100' });
      await svc.app.listen({ host: '127.0.0.1', port: 0 });
      base = `http://127.0.0.1:${(svc.app.server.address() as AddressInfo).port}`;
    });
    after(async () => {
      await svc.close();
    });

    test('50 concurrent identical requests create exactly one payment and all get it', async () => {
      const before = await paymentCount(svc.db);
      const body = JSON.stringify({ user_id: 500, amount: 4200, currency: 'EUR' });
      const responses = await Promise.all(
        Array.from({ length: 50 }, async () => {
          const res = await request(`${base}/api/payments`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'idempotency-key': 'concurrent-50' },
            body,
          });
          return {
            status: res.statusCode,
            body: (await res.body.json()) as { id: string; status: string },
          };
        }),
      );
      assert.deepEqual(new Set(responses.map((r) => r.status)), new Set([201]));
      const ids = new Set(responses.map((r) => r.body.id));
      assert.equal(ids.size, 1);
      assert.equal(responses[0]!.body.status, 'authorized');
      assert.equal(await paymentCount(svc.db), before + 1);
      const { rows } = await svc.db.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM payments WHERE idempotency_key = 'concurrent-50'",
      );
      assert.equal(rows[0]?.n, 1);
    });

    for (const [label, amounts] of [
      ['two bodies (100 and 999999)', [100, 999_999]],
      ['ten different bodies', Array.from({ length: 10 }, (_, i) => 100 + i)],
    ] as const) {
      test(`one key, ${label} at once: only one body is charged, every other answer is 422 or 409`, async () => {
        const key = `concurrent-mixed-${amounts.length}`;
        const responses = await Promise.all(
          amounts.map(async (amount) => {
            const res = await request(`${base}/api/payments`, {
              method: 'POST',
              headers: { 'content-type': 'application/json', 'idempotency-key': key },
              body: JSON.stringify({ user_id: 501, amount, currency: 'EUR' }),
            });
            return {
              sent: amount,
              status: res.statusCode,
              body: (await res.body.json()) as { amount?: number; id?: string; code?: string },
            };
          }),
        );
        const created = responses.filter((r) => r.status === 201);
        assert.equal(created.length, 1, JSON.stringify(responses.map((r) => r.status)));
        const winner = created[0]!;
        // The payment answered is the one whose body was sent.
        assert.equal(winner.body.amount, winner.sent);
        for (const r of responses) {
          if (r === winner) continue;
          if (r.status === 422) assert.equal(r.body.code, 'IDEMPOTENCY_KEY_REUSED');
          else assert.deepEqual([r.status, r.body.code], [409, 'IDEMPOTENCY_IN_PROGRESS']);
        }
        const { rows } = await svc.db.query<{ amount: number }>(
          'SELECT amount::int AS amount FROM payments WHERE idempotency_key = $1',
          [key],
        );
        assert.deepEqual(rows, [{ amount: winner.sent }]);
      });
    }
  });
}
