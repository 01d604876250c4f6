import * as crypto from 'node:crypto';

/** One-shot `crypto.hash` (Node 20.12+): no Hash object per call; else createHash. */
const oneShot = (
  crypto as { hash?: (alg: string, data: string | Uint8Array, enc: 'base64url') => string }
).hash;
const sha1 = oneShot
  ? (body: string | Uint8Array): string => oneShot('sha1', body, 'base64url')
  : (body: string | Uint8Array): string =>
      crypto.createHash('sha1').update(body).digest('base64url');

/**
 * A weak ETag of a body: `W/"<size in hex>-<SHA-1, base64url, 27 chars>"`. SHA-1 runs in
 * OpenSSL at about 1 GB/s, so a 50 KB page costs some 50 µs (bench/http/compression.bench.ts),
 * cheaper than a hash written in JavaScript; its weakness for signatures is no concern for a
 * cache validator. Weak because one tag stands for the body in every content coding.
 */
export function weakEtag(body: string | Uint8Array): string {
  const size = typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength;
  const digest = sha1(body);
  return `W/"${size.toString(16)}-${digest}"`;
}

/**
 * Whether an `If-None-Match` header matches `etag` by weak comparison (RFC 9110 §13.1.2):
 * `*`, or any listed tag with the same opaque value, `W/` or not.
 */
export function etagMatches(ifNoneMatch: string, etag: string): boolean {
  if (ifNoneMatch.trim() === '*') return true;
  const opaque = etag.startsWith('W/') ? etag.slice(2) : etag;
  for (const raw of ifNoneMatch.split(',')) {
    const tag = raw.trim();
    if ((tag.startsWith('W/') ? tag.slice(2) : tag) === opaque) return true;
  }
  return false;
}
