import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  paymentCount,
  startTestService,
  type TestService,
  serviceBackends,
} from '../helpers/payments-service.js';

const backends = await serviceBackends();

const json = { 'content-type': 'application/json' };

for (const [name, backend, skip] of backends) {
  describe(`payments API on ${name}`, { skip }, () => {
    let svc: TestService;
    before(async () => {
      svc = await startTestService(backend);
    });
    after(async () => {
      await svc.close();
    });

    const create = (body: unknown, headers: Record<string, string> = {}) =>
      svc.app.inject({
        method: 'POST',
        url: '/api/payments',
        headers: { ...json, ...headers },
        payload: JSON.stringify(body),
      });

    test('creates a payment that ends authorized and reads it back', async () => {
      const res = await create({ user_id: 7, amount: 1250, currency: 'EUR' });
      assert.equal(res.statusCode, 201);
      const payment = res.json();
      assert.equal(payment.status, 'authorized');
      assert.equal(payment.amount, 1250);
      assert.equal(payment.currency, 'EUR');
      assert.match(payment.gateway_ref, /^ch_/);
      assert.equal(res.headers.location, `/api/payments/${payment.id}`);
      const read = await svc.app.inject({ method: 'GET', url: `/api/payments/${payment.id}` });
      assert.equal(read.statusCode, 200);
      assert.deepEqual(read.json(), payment);
    });

    test('a retry with the same Idempotency-Key returns the stored payment and charges once', async () => {
      const before = await paymentCount(svc.db);
      const body = { user_id: 8, amount: 500, currency: 'USD' };
      const first = await create(body, { 'idempotency-key': 'retry-1' });
      const second = await create(body, { 'idempotency-key': 'retry-1' });
      assert.equal(first.statusCode, 201);
      assert.equal(second.statusCode, 201);
      assert.equal(second.headers['idempotent-replayed'], 'true');
      assert.deepEqual(second.json(), first.json());
      assert.equal(await paymentCount(svc.db), before + 1);
    });

    test('the same Idempotency-Key with a different body is rejected with 422', async () => {
      await create({ user_id: 9, amount: 100, currency: 'EUR' }, { 'idempotency-key': 'reuse-1' });
      const before = await paymentCount(svc.db);
      const res = await create(
        { user_id: 9, amount: 101, currency: 'EUR' },
        { 'idempotency-key': 'reuse-1' },
      );
      assert.equal(res.statusCode, 422);
      assert.equal(res.json().code, 'IDEMPOTENCY_KEY_REUSED');
      assert.equal(await paymentCount(svc.db), before);
    });

    const bad: [
      string,
      () => Promise<{ statusCode: number; json: () => { code: string; message: string } }>,
      number,
      string,
    ][] = [
      [
        'amount as a string',
        () => create({ user_id: 1, amount: '100', currency: 'EUR' }),
        400,
        'VALIDATION_FAILED',
      ],
      [
        'negative amount',
        () => create({ user_id: 1, amount: -5, currency: 'EUR' }),
        400,
        'VALIDATION_FAILED',
      ],
      [
        'zero amount',
        () => create({ user_id: 1, amount: 0, currency: 'EUR' }),
        400,
        'VALIDATION_FAILED',
      ],
      [
        'fractional amount',
        () => create({ user_id: 1, amount: 10.5, currency: 'EUR' }),
        400,
        'VALIDATION_FAILED',
      ],
      [
        'huge amount',
        () => create({ user_id: 1, amount: 1e20, currency: 'EUR' }),
        400,
        'VALIDATION_FAILED',
      ],
      [
        'unknown currency',
        () => create({ user_id: 1, amount: 100, currency: 'XXX' }),
        400,
        'VALIDATION_FAILED',
      ],
      [
        'lower-case currency',
        () => create({ user_id: 1, amount: 100, currency: 'eur' }),
        400,
        'VALIDATION_FAILED',
      ],
      ['missing currency', () => create({ user_id: 1, amount: 100 }), 400, 'VALIDATION_FAILED'],
      ['missing user_id', () => create({ amount: 100, currency: 'EUR' }), 400, 'VALIDATION_FAILED'],
      [
        'user_id zero',
        () => create({ user_id: 0, amount: 100, currency: 'EUR' }),
        400,
        'VALIDATION_FAILED',
      ],
      [
        'extra field',
        () => create({ user_id: 1, amount: 100, currency: 'EUR', status: 'authorized' }),
        400,
        'VALIDATION_FAILED',
      ],
      ['array body', () => create([1, 2]), 400, 'VALIDATION_FAILED'],
      ['null body', () => create(null), 400, 'VALIDATION_FAILED'],
      [
        'malformed JSON',
        () =>
          svc.app.inject({
            method: 'POST',
            url: '/api/payments',
            headers: json,
            payload: '{"user_id": 1,',
          }),
        400,
        'INVALID_JSON',
      ],
      [
        'empty JSON body',
        () => svc.app.inject({ method: 'POST', url: '/api/payments', headers: json, payload: '' }),
        400,
        'INVALID_JSON',
      ],
      [
        'wrong content type',
        () =>
          svc.app.inject({
            method: 'POST',
            url: '/api/payments',
            headers: { 'content-type': 'text/plain' },
            payload: '{"user_id":1,"amount":100,"currency":"EUR"}',
          }),
        415,
        'UNSUPPORTED_MEDIA_TYPE',
      ],
      [
        'form content type',
        () =>
          svc.app.inject({
            method: 'POST',
            url: '/api/payments',
            headers: { 'content-type': 'application/x-www-form-urlencoded' },
            payload: 'user_id=1&amount=100&currency=EUR',
          }),
        415,
        'UNSUPPORTED_MEDIA_TYPE',
      ],
      [
        'oversized body',
        () =>
          svc.app.inject({
            method: 'POST',
            url: '/api/payments',
            headers: json,
            payload: JSON.stringify({
              user_id: 1,
              amount: 100,
              currency: 'EUR',
              pad: 'x'.repeat(20_000),
            }),
          }),
        413,
        'BODY_TOO_LARGE',
      ],
      [
        'invalid Idempotency-Key',
        () =>
          create(
            { user_id: 1, amount: 100, currency: 'EUR' },
            { 'idempotency-key': 'x'.repeat(300) },
          ),
        400,
        'INVALID_IDEMPOTENCY_KEY',
      ],
    ];
    for (const [label, send, status, code] of bad) {
      test(`rejects ${label} with ${status} ${code} and writes no row`, async () => {
        const before = await paymentCount(svc.db);
        const res = await send();
        assert.equal(res.statusCode, status);
        const body = res.json();
        assert.equal(body.code, code);
        assert.equal(typeof body.message, 'string');
        assert.ok(body.message.length > 0);
        assert.equal(await paymentCount(svc.db), before);
      });
    }

    test('unknown payment ids and routes answer 404 with a code', async () => {
      const unknown = await svc.app.inject({
        method: 'GET',
        url: '/api/payments/01a20c8a-d1c0-7000-8dee-fbb25d529e30',
      });
      assert.equal(unknown.statusCode, 404);
      assert.equal(unknown.json().code, 'PAYMENT_NOT_FOUND');
      const malformed = await svc.app.inject({ method: 'GET', url: '/api/payments/not-a-uuid' });
      assert.equal(malformed.statusCode, 404);
      assert.equal(malformed.json().code, 'PAYMENT_NOT_FOUND');
      const route = await svc.app.inject({ method: 'GET', url: '/api/nothing' });
      assert.equal(route.statusCode, 404);
      assert.equal(route.json().code, 'NOT_FOUND');
    });

    test("lists a user's payments newest first, page by page, with an opaque cursor", async () => {
      const ids: string[] = [];
      for (let i = 0; i < 23; i++) {
        const res = await create({ user_id: 42, amount: 100 + i, currency: 'EUR' });
        ids.push(res.json().id);
      }
      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const url: string = `/api/users/42/payments?limit=10${cursor ? `&cursor=${cursor}` : ''}`;
        const res = await svc.app.inject({ method: 'GET', url });
        assert.equal(res.statusCode, 200);
        const page = res.json() as {
          items: { id: string; user_id: number }[];
          next_cursor: string | null;
        };
        assert.ok(page.items.length <= 10);
        for (const item of page.items) assert.equal(item.user_id, 42);
        seen.push(...page.items.map((p) => p.id));
        cursor = page.next_cursor;
        pages++;
      } while (cursor !== null);
      assert.equal(pages, 3);
      assert.deepEqual(seen, [...ids].reverse());
    });

    test('rejects a bad cursor, limit or user id with 400', async () => {
      for (const url of [
        '/api/users/42/payments?cursor=garbage!',
        '/api/users/42/payments?cursor=' + Buffer.from('{"v":1,"id":"x"}').toString('base64url'),
        '/api/users/42/payments?cursor=' + Buffer.from('not json').toString('base64url'),
      ]) {
        const res = await svc.app.inject({ method: 'GET', url });
        assert.equal(res.statusCode, 400, url);
        assert.equal(res.json().code, 'INVALID_CURSOR');
      }
      for (const url of [
        '/api/users/42/payments?limit=0',
        '/api/users/42/payments?limit=101',
        '/api/users/42/payments?limit=abc',
        '/api/users/0/payments',
        '/api/users/abc/summary',
        '/api/users/99999999999/summary',
      ]) {
        const res = await svc.app.inject({ method: 'GET', url });
        assert.equal(res.statusCode, 400, url);
        assert.equal(res.json().code, 'VALIDATION_FAILED');
      }
    });

    test("summarizes a user's payments by currency and status", async () => {
      await create({ user_id: 77, amount: 1000, currency: 'EUR' });
      await create({ user_id: 77, amount: 500, currency: 'EUR' });
      await create({ user_id: 77, amount: 300, currency: 'JPY' });
      const res = await svc.app.inject({ method: 'GET', url: '/api/users/77/summary' });
      assert.equal(res.statusCode, 200);
      const summary = res.json();
      assert.equal(summary.payments, 3);
      assert.deepEqual(summary.authorized, { EUR: 1500, JPY: 300 });
      assert.equal(summary.by_status.authorized, 3);
      const empty = await svc.app.inject({ method: 'GET', url: '/api/users/78/summary' });
      assert.equal(empty.json().payments, 0);
    });

    test('readiness is 200 with the database up', async () => {
      const res = await svc.app.inject({ method: 'GET', url: '/health/ready' });
      assert.equal(res.statusCode, 200);
      assert.deepEqual(res.json(), { status: 'ready', checks: { database: 'ok' } });
      const live = await svc.app.inject({ method: 'GET', url: '/health/live' });
      assert.equal(live.statusCode, 200);
    });
  });
}
