import assert from 'node:assert/strict';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { after, before, describe, test } from 'node:test';
import { startTestService, type TestService } from '../helpers/payments-service.js';

// PGlite only: compression does not depend on the storage backend.
describe('response compression and ETags in the payments service', () => {
  let svc: TestService;
  let paymentId: string;
  before(async () => {
    svc = await startTestService({ kind: 'pglite' });
    for (let i = 0; i < 40; i++) {
      const res = await svc.app.inject({
        method: 'POST',
        url: '/api/payments',
        headers: { 'content-type': 'application/json' },
        payload: JSON.stringify({ user_id: 7, amount: 1000 + i, currency: 'EUR' }),
      });
      assert.equal(res.statusCode, 201);
      paymentId = (res.json() as { id: string }).id;
    }
  });
  after(async () => {
    await svc.close();
  });

  test('a large list page comes gzip-encoded with Vary: Accept-Encoding', async () => {
    const res = await svc.app.inject({
      url: '/api/users/7/payments?limit=40',
      headers: { 'accept-encoding': 'gzip, deflate, br' },
    });
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['content-encoding'], 'gzip');
    assert.equal(res.headers.vary, 'Accept-Encoding');
    const page = JSON.parse(gunzipSync(res.rawPayload).toString()) as { items: unknown[] };
    assert.equal(page.items.length, 40);
  });

  test('a client that prefers br gets br', async () => {
    const res = await svc.app.inject({
      url: '/api/users/7/payments?limit=40',
      headers: { 'accept-encoding': 'gzip;q=0.5, br' },
    });
    assert.equal(res.headers['content-encoding'], 'br');
    const page = JSON.parse(brotliDecompressSync(res.rawPayload).toString()) as {
      items: unknown[];
    };
    assert.equal(page.items.length, 40);
  });

  test('a single payment is under the threshold and is sent as it is', async () => {
    const res = await svc.app.inject({
      url: `/api/payments/${paymentId}`,
      headers: { 'accept-encoding': 'gzip, br' },
    });
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['content-encoding'], undefined);
    assert.equal((res.json() as { id: string }).id, paymentId);
  });

  test('GET /api/payments/:id has a weak ETag, and If-None-Match with it gets 304', async () => {
    const first = await svc.app.inject({ url: `/api/payments/${paymentId}` });
    const etag = first.headers.etag;
    assert.match(String(etag), /^W\//);
    const again = await svc.app.inject({
      url: `/api/payments/${paymentId}`,
      headers: { 'if-none-match': String(etag) },
    });
    assert.equal(again.statusCode, 304);
    assert.equal(again.payload, '');
  });

  test('health probes get no ETag and are never 304', async () => {
    for (const url of ['/health/live', '/health/ready']) {
      const res = await svc.app.inject({ url, headers: { 'if-none-match': '*' } });
      assert.equal(res.statusCode, 200, url);
      assert.equal(res.headers.etag, undefined, url);
      assert.equal(typeof res.json().status, 'string', url);
    }
  });

  test('an error answer to an API GET gets no ETag', async () => {
    const res = await svc.app.inject({
      url: '/api/payments/01890000-0000-7000-8000-000000000000',
      headers: { 'if-none-match': '*' },
    });
    assert.equal(res.statusCode, 404);
    assert.equal(res.headers.etag, undefined);
    assert.equal(res.json().code, 'PAYMENT_NOT_FOUND');
  });

  test("the dashboard's uPlot script comes compressed, the same bytes each time", async () => {
    const url = '/dashboard/assets/uPlot.iife.min.js';
    const headers = { 'accept-encoding': 'gzip' };
    const first = await svc.app.inject({ url, headers });
    assert.equal(first.statusCode, 200);
    assert.equal(first.headers['content-encoding'], 'gzip');
    assert.ok(first.rawPayload.byteLength < gunzipSync(first.rawPayload).byteLength / 2);
    const second = await svc.app.inject({ url, headers });
    assert.deepEqual(second.rawPayload, first.rawPayload);
  });
});
