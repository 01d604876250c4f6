/**
 * A signed receipt of a final payment: the canonical JSON of the payment, a hash chain over
 * the user's last 100 payments and a receipt code, signed with Ed25519. Pure CPU work with no
 * I/O, so it runs the same on the event loop (RECEIPTS=inline) and on a worker thread
 * (RECEIPTS=pool, service/receipts/receipt-task.ts).
 *
 * The cost is chosen to be worth a thread, about 3 ms of CPU per receipt on the bench machine:
 * the hash chain (100 SHA-256 over ~250 bytes) and the signature (Ed25519) take well under
 * 0.2 ms together, so the receipt code is derived with scrypt (N=2048, r=8, p=1: a 2 MiB,
 * ~3 ms derivation, the shape of a real key-derivation step). The service uses it to make the
 * difference between inline and pooled CPU work measurable (bench/concurrency/offload.bench.ts).
 */
import { createHash, createPrivateKey, createPublicKey, scryptSync, sign } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import type { Payment } from '../payments/payment.js';

/** Payments of the user chained into a receipt, newest first. */
export const RECEIPT_HISTORY = 100;
const SCRYPT = { N: 2048, r: 8, p: 1 } as const;
const SCRYPT_SALT = 'hotpath-receipt-v1';

/** What signing needs: the payment, the user's recent payments and the private key (PKCS#8 PEM). */
export interface ReceiptInput {
  payment: Payment;
  history: readonly Payment[];
  privateKeyPem: string;
}

/** The API's answer: verify `signature` (base64) over `canonical` with `public_key` (SPKI PEM). */
export interface Receipt {
  payment_id: string;
  canonical: string;
  signature: string;
  public_key: string;
}

/** JSON with keys sorted at every level and no spaces: one byte string per value. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

const keys = new Map<string, { privateKey: KeyObject; publicPem: string }>();

function keyPair(pem: string): { privateKey: KeyObject; publicPem: string } {
  let pair = keys.get(pem);
  if (pair === undefined) {
    const privateKey = createPrivateKey(pem);
    const publicPem = createPublicKey(privateKey).export({ type: 'spki', format: 'pem' }) as string;
    pair = { privateKey, publicPem };
    keys.set(pem, pair);
  }
  return pair;
}

/** Builds and signs the receipt of a final payment. */
export function signReceipt(input: ReceiptInput): Receipt {
  const { payment, history, privateKeyPem } = input;
  // Oldest first, so the chain reads like a ledger: h_i = sha256(h_{i-1} || canonical_i).
  let chain = '';
  const recent = history.slice(0, RECEIPT_HISTORY);
  for (let i = recent.length - 1; i >= 0; i--) {
    chain = createHash('sha256').update(chain).update(canonicalJson(recent[i])).digest('hex');
  }
  const body = {
    payment,
    history: { count: recent.length, chain_sha256: chain },
  };
  const code = scryptSync(canonicalJson(body), SCRYPT_SALT, 16, SCRYPT).toString('base64url');
  const canonical = canonicalJson({ ...body, receipt_code: code });
  const { privateKey, publicPem } = keyPair(privateKeyPem);
  return {
    payment_id: payment.id,
    canonical,
    signature: sign(null, Buffer.from(canonical), privateKey).toString('base64'),
    public_key: publicPem,
  };
}
