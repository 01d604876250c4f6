import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startTestService, type TestService } from '../helpers/payments-service.js';

// PGlite only: how a payment is answered does not depend on the storage backend.
describe('GET /api/payments/:id answers', () => {
  let svc: TestService;
  before(async () => {
    svc = await startTestService({ kind: 'pglite' });
  });
  after(async () => {
    await svc.close();
  });

  test('the payment as JSON, the same bytes and ETag on every read from the cache', async () => {
    const created = await svc.app.inject({
      method: 'POST',
      url: '/api/payments',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify({ user_id: 11, amount: 4200, currency: 'EUR' }),
    });
    assert.equal(created.statusCode, 201);
    const url = `/api/payments/${created.json().id}`;
    const first = await svc.app.inject({ url });
    const second = await svc.app.inject({ url });
    assert.equal(first.statusCode, 200);
    assert.equal(first.headers['content-type'], 'application/json; charset=utf-8');
    assert.deepEqual(first.json(), created.json());
    assert.equal(first.payload, JSON.stringify(created.json()));
    assert.equal(Number(first.headers['content-length']), first.rawPayload.byteLength);
    assert.equal(second.payload, first.payload);
    assert.match(String(first.headers.etag), /^W\//);
    assert.equal(second.headers.etag, first.headers.etag);
  });

  test('a payment read while pending, then settled, is read in its new state with a new ETag', async () => {
    const id = '01a20c8a-d1c0-7000-8dee-fbb25d529e77';
    await svc.db.query(
      `INSERT INTO payments (id, user_id, amount, currency, status, created_at, next_attempt_at)
       VALUES ($1, 12, 900, 'EUR', 'pending', now() - interval '10 minutes', now() - interval '1 minute')`,
      [id],
    );
    const url = `/api/payments/${id}`;
    const pending = await svc.app.inject({ url });
    assert.equal(pending.json().status, 'pending');
    // Read again: served from the cache.
    assert.equal((await svc.app.inject({ url })).json().status, 'pending');
    const sweep = await svc.reconciler.sweep();
    assert.equal(sweep.settled, 1);
    const settled = await svc.app.inject({
      url,
      headers: { 'if-none-match': pending.headers.etag },
    });
    assert.equal(settled.statusCode, 200);
    assert.equal(settled.json().status, 'authorized');
    assert.match(settled.json().gateway_ref, /^ch_/);
    assert.notEqual(settled.headers.etag, pending.headers.etag);
  });

  test('HEAD answers the headers of the GET, with no body', async () => {
    const created = await svc.app.inject({
      method: 'POST',
      url: '/api/payments',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify({ user_id: 13, amount: 100, currency: 'USD' }),
    });
    const url = `/api/payments/${created.json().id}`;
    const get = await svc.app.inject({ url });
    const head = await svc.app.inject({ method: 'HEAD', url });
    assert.equal(head.statusCode, 200);
    assert.equal(head.payload, '');
    assert.equal(head.headers['content-length'], get.headers['content-length']);
    assert.equal(head.headers.etag, get.headers.etag);
  });
});
