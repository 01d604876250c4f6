import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  startTestService,
  type TestService,
  serviceBackends,
} from '../helpers/payments-service.js';

const backends = await serviceBackends();

for (const [name, backend, skip] of backends) {
  describe(`latest payments of many users on ${name}`, { skip }, () => {
    let batched: TestService;
    let naive: TestService;
    before(async () => {
      batched = await startTestService(backend);
      naive = await startTestService(backend, { nPlusOne: 'naive' });
      for (const svc of [batched, naive]) {
        for (const [user, amount] of [
          [1, 100],
          [1, 200],
          [2, 300],
          [3, 400],
          [3, 500],
          [3, 600],
          [4, 700],
          [5, 800],
        ] as const) {
          const res = await svc.app.inject({
            method: 'POST',
            url: '/api/payments',
            headers: { 'content-type': 'application/json' },
            payload: JSON.stringify({ user_id: user, amount, currency: 'EUR' }),
          });
          assert.equal(res.statusCode, 201);
        }
      }
    });
    after(async () => {
      await batched.close();
      await naive.close();
    });

    const latest = async (svc: TestService, ids: string) => {
      const res = await svc.app.inject({
        method: 'GET',
        url: `/api/users/latest-payments?ids=${ids}`,
      });
      assert.equal(res.statusCode, 200);
      return (
        res.json() as { items: { user_id: number; payment: { amount: number } | null }[] }
      ).items.map((i) => [i.user_id, i.payment?.amount ?? null]);
    };

    test('batched (one query) and naive (one per user) give the same answer', async () => {
      const expected = [
        [1, 200],
        [2, 300],
        [3, 600],
        [4, 700],
        [5, 800],
        [6, null],
      ];
      assert.deepEqual(await latest(batched, '1,2,3,4,5,6'), expected);
      assert.deepEqual(await latest(naive, '1,2,3,4,5,6'), expected);
    });

    test('the naive path is reported as N+1 and the batched one is not', async () => {
      const count = async (svc: TestService) => {
        const res = await svc.app.inject({ method: 'GET', url: '/metrics' });
        const m = /^payments_db_n_plus_one_total (\d+)$/m.exec(res.body);
        return Number(m?.[1] ?? NaN);
      };
      const naiveBefore = await count(naive);
      const batchedBefore = await count(batched);
      await latest(naive, '1,2,3,4,5,6,7,8');
      await latest(batched, '1,2,3,4,5,6,7,8');
      assert.equal((await count(naive)) - naiveBefore, 1);
      assert.equal((await count(batched)) - batchedBefore, 0);
    });

    test('repeated ids parameters (ids=1&ids=2) and a mix with a list are the same as ids=1,2', async () => {
      const expected = [
        [1, 200],
        [2, 300],
        [3, 600],
      ];
      assert.deepEqual(await latest(batched, '1&ids=2&ids=3'), expected);
      assert.deepEqual(await latest(batched, '1,2&ids=3'), expected);
      assert.deepEqual(await latest(naive, '1&ids=2&ids=3'), expected);
    });

    test('rejects missing, bad or too many ids with 400', async () => {
      for (const url of [
        '/api/users/latest-payments',
        '/api/users/latest-payments?ids=',
        '/api/users/latest-payments?ids=1,x',
        '/api/users/latest-payments?ids=1&ids=x',
        `/api/users/latest-payments?${Array.from({ length: 101 }, (_, i) => `ids=${i + 1}`).join('&')}`,
        `/api/users/latest-payments?ids=${Array.from({ length: 101 }, (_, i) => i + 1).join(',')}`,
      ]) {
        const res = await batched.app.inject({ method: 'GET', url });
        assert.equal(res.statusCode, 400, url);
        assert.equal(res.json().code, 'VALIDATION_FAILED');
      }
    });

    test('the dashboard lists the top queries with their counts', async () => {
      const dashboard = batched.observability.dashboard;
      assert.ok(dashboard.panels().some((p) => p.id === 'db-top-queries'));
      const profiling = dashboard.panels().find((p) => p.id === 'profiling');
      assert.ok(profiling?.kind === 'links');
      assert.ok(profiling.links.some((l) => l.href === '/debug/pprof/flamegraph?seconds=10'));
      const items = dashboard.sample().values['db-top-queries'] as {
        label: string;
        detail?: string;
      }[];
      assert.ok(items.length > 0);
      assert.ok(items.some((i) => /insert into payments/i.test(i.label)));
      for (const item of items) assert.match(item.detail ?? '', /\d+ calls, mean/);
    });
  });
}
