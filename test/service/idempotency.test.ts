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

    test('concurrent requests with one key and different bodies: one payment, the others 422', async () => {
      const responses = await Promise.all(
        Array.from({ length: 10 }, async (_, i) => {
          const res = await request(`${base}/api/payments`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'idempotency-key': 'concurrent-mixed' },
            body: JSON.stringify({ user_id: 501, amount: i === 0 ? 100 : 200, currency: 'EUR' }),
          });
          await res.body.dump();
          return res.statusCode;
        }),
      );
      const created = responses.filter((s) => s === 201).length;
      const rejected = responses.filter((s) => s === 422).length;
      assert.equal(created + rejected, 10);
      assert.ok(created >= 1);
      const { rows } = await svc.db.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM payments WHERE idempotency_key = 'concurrent-mixed'",
      );
      assert.equal(rows[0]?.n, 1);
    });
  });
}
