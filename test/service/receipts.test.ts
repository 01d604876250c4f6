import assert from 'node:assert/strict';
import { generateKeyPairSync, verify } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { Payment } from '../../service/payments/payment.js';
import { canonicalJson } from '../../service/receipts/receipt.js';
import { Receipts } from '../../service/receipts/receipts.js';
import { startTestService, type TestService } from '../helpers/payments-service.js';

const privateKeyPem = generateKeyPairSync('ed25519')
  .privateKey.export({ type: 'pkcs8', format: 'pem' })
  .toString();

function payment(n: number, status: Payment['status'] = 'authorized'): Payment {
  return {
    id: `0190b3c2-0000-7000-8000-${String(n).padStart(12, '0')}`,
    user_id: 7,
    amount: 100 * n,
    currency: 'EUR',
    status,
    gateway_ref: `g${n}`,
    failure_reason: null,
    created_at: '2026-01-01T00:00:00.000Z',
    updated_at: '2026-01-01T00:00:01.000Z',
  };
}

describe('receipts', () => {
  test('canonical JSON sorts keys at every level', () => {
    assert.equal(
      canonicalJson({ b: 1, a: { d: [2, { f: 1, e: 0 }], c: null } }),
      '{"a":{"c":null,"d":[2,{"e":0,"f":1}]},"b":1}',
    );
  });

  test('a receipt verifies with its public key, and signed on the pool it is the same as inline', async () => {
    const inline = new Receipts({ mode: 'inline', privateKeyPem });
    const pool = new Receipts({ mode: 'pool', privateKeyPem });
    try {
      const history = Array.from({ length: 100 }, (_, i) => payment(100 - i));
      const [a, b] = await Promise.all([
        inline.sign(payment(1), history),
        pool.sign(payment(1), history),
      ]);
      assert.deepEqual(b, a);
      assert.ok(
        verify(null, Buffer.from(a.canonical), a.public_key, Buffer.from(a.signature, 'base64')),
      );
      const doc = JSON.parse(a.canonical) as { payment: Payment; history: { count: number } };
      assert.deepEqual(doc.payment, payment(1));
      assert.equal(doc.history.count, 100);
      // A changed byte no longer verifies.
      const forged = a.canonical.replace('"amount":100', '"amount":900');
      assert.ok(
        !verify(null, Buffer.from(forged), a.public_key, Buffer.from(a.signature, 'base64')),
      );
    } finally {
      await Promise.all([inline.close(), pool.close()]);
    }
  });
});

describe('GET /api/payments/:id/receipt', () => {
  let svc: TestService;
  before(async () => {
    svc = await startTestService({ kind: 'pglite' });
  });
  after(async () => {
    await svc.close();
  });

  test('answers a signed receipt of a final payment', async () => {
    const created = await svc.app.inject({
      method: 'POST',
      url: '/api/payments',
      payload: { user_id: 42, amount: 1234, currency: 'EUR' },
    });
    assert.equal(created.statusCode, 201);
    const id = created.json<Payment>().id;
    const res = await svc.app.inject({ method: 'GET', url: `/api/payments/${id}/receipt` });
    assert.equal(res.statusCode, 200);
    const receipt = res.json<{
      payment_id: string;
      canonical: string;
      signature: string;
      public_key: string;
    }>();
    assert.equal(receipt.payment_id, id);
    assert.ok(
      verify(
        null,
        Buffer.from(receipt.canonical),
        receipt.public_key,
        Buffer.from(receipt.signature, 'base64'),
      ),
    );
    assert.equal((JSON.parse(receipt.canonical) as { payment: Payment }).payment.amount, 1234);
    // Signed on the pool (RECEIPTS defaults to pool), whose metrics /metrics exposes.
    const metrics = await svc.app.inject({ method: 'GET', url: '/metrics' });
    assert.match(metrics.body, /payments_receipt_pool_run_seconds_count 1\b/);
  });

  test('answers 404 PAYMENT_NOT_FOUND for an unknown id', async () => {
    for (const id of ['0190b3c2-0000-7000-8000-000000000000', 'not-a-uuid']) {
      const res = await svc.app.inject({ method: 'GET', url: `/api/payments/${id}/receipt` });
      assert.equal(res.statusCode, 404);
      assert.equal(res.json<{ code: string }>().code, 'PAYMENT_NOT_FOUND');
    }
  });

  test('answers 409 PAYMENT_PENDING while the payment is pending', async () => {
    const id = '0190b3c2-0000-7000-8000-00000000beef';
    await svc.payments.repository.insertPending(
      id,
      { user_id: 43, amount: 500, currency: 'EUR' },
      null,
      null,
      60_000,
    );
    const res = await svc.app.inject({ method: 'GET', url: `/api/payments/${id}/receipt` });
    assert.equal(res.statusCode, 409);
    const body = res.json<{ code: string; message: string }>();
    assert.equal(body.code, 'PAYMENT_PENDING');
    assert.match(body.message, /pending/);
  });
});
