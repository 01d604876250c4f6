import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CacheSerializeError } from './errors.js';
import { jsonSerializer } from './serializer.js';

const roundTrip = (value: unknown): unknown =>
  jsonSerializer.deserialize(jsonSerializer.serialize(value));

describe('jsonSerializer', () => {
  test('round-trips Date, BigInt, Buffer, Uint8Array, Map, Set and non-finite numbers', () => {
    const value = {
      at: new Date('2026-01-02T03:04:05.678Z'),
      amount: 12345678901234567890n,
      raw: Buffer.from([0, 1, 254, 255]),
      bytes: new Uint8Array([9, 8, 7]),
      byId: new Map<string, unknown>([['a', { n: 1n }]]),
      ids: new Set([1, 2, 3]),
      special: [NaN, Infinity, -Infinity, undefined, null],
      nested: { when: [new Date(0)] },
    };
    const back = roundTrip(value) as typeof value;
    assert.deepEqual(back, value);
    assert.ok(back.at instanceof Date);
    assert.ok(Buffer.isBuffer(back.raw));
    assert.equal(typeof back.amount, 'bigint');
    assert.equal(back.special.length, 5);
    assert.ok(3 in back.special);
  });

  test('round-trips a top-level undefined, BigInt and Date', () => {
    assert.equal(roundTrip(undefined), undefined);
    assert.equal(roundTrip(-5n), -5n);
    assert.deepEqual(roundTrip(new Date(42)), new Date(42));
  });

  test('keeps a user object that uses the marker key intact', () => {
    const value = { $hp: 'bigint', v: '12' };
    assert.deepEqual(roundTrip(value), value);
  });

  test('plain JSON stays plain JSON; text with tags is marked by its first character', () => {
    assert.equal(jsonSerializer.serialize({ a: [1, 'x', true] }), '{"a":[1,"x",true]}');
    assert.equal(jsonSerializer.serialize({ n: 1n }), '~{"n":{"$hp":"bigint","v":"1"}}');
    // Plain values that look like the mark or a tag stay plain, and read back as written.
    for (const value of ['~x', { note: 'a "$hp" in text' }, ['~', { $hp: 1 }]]) {
      assert.deepEqual(roundTrip(value), value);
    }
    assert.equal(jsonSerializer.serialize('~x'), '"~x"');
    // A failed serialize leaves nothing behind for the next value.
    assert.throws(() => jsonSerializer.serialize({ n: 1n, f: () => 1 }));
    assert.equal(jsonSerializer.serialize({ a: 1 }), '{"a":1}');
  });

  test('rejects functions, symbols, cycles and class instances with HP_ERR_CACHE_SERIALIZE', () => {
    class Money {
      cents = 1;
    }
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    for (const bad of [{ f: () => 1 }, { s: Symbol('x') }, cyclic, { m: new Money() }]) {
      assert.throws(
        () => jsonSerializer.serialize(bad),
        (error: unknown) =>
          error instanceof CacheSerializeError && error.code === 'HP_ERR_CACHE_SERIALIZE',
      );
    }
  });

  test('reports unreadable payloads with HP_ERR_CACHE_SERIALIZE', () => {
    assert.throws(() => jsonSerializer.deserialize('{oops'), { code: 'HP_ERR_CACHE_SERIALIZE' });
  });
});
