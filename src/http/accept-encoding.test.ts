import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { etagMatches, negotiateEncoding } from './index.js';

describe('negotiateEncoding', () => {
  const offered = ['gzip', 'br'] as const;

  test('picks the highest q-value the server offers', () => {
    assert.equal(negotiateEncoding('gzip;q=0.2, br;q=0.8', offered), 'br');
    assert.equal(negotiateEncoding('br;q=0.1, gzip', offered), 'gzip');
  });

  test('breaks ties by the server order', () => {
    assert.equal(negotiateEncoding('br, gzip', offered), 'gzip');
    assert.equal(negotiateEncoding('br, gzip', ['br', 'gzip']), 'br');
  });

  test('reads * as every coding not named and q=0 as a refusal', () => {
    assert.equal(negotiateEncoding('*', offered), 'gzip');
    assert.equal(negotiateEncoding('gzip;q=0, *', offered), 'br');
    assert.equal(negotiateEncoding('*;q=0', offered), undefined);
  });

  test('answers identity for no header, unknown codings or a malformed q', () => {
    assert.equal(negotiateEncoding(undefined, offered), undefined);
    assert.equal(negotiateEncoding('', offered), undefined);
    assert.equal(negotiateEncoding('deflate, identity', offered), undefined);
    assert.equal(negotiateEncoding('gzip;q=x', offered), undefined);
  });

  test('ignores case and spaces', () => {
    assert.equal(negotiateEncoding(' GZIP ; Q=0.5 ', offered), 'gzip');
  });
});

describe('etagMatches', () => {
  test('compares weakly, in a list, and matches *', () => {
    assert.ok(etagMatches('W/"a"', 'W/"a"'));
    assert.ok(etagMatches('"a"', 'W/"a"'));
    assert.ok(etagMatches('"b", W/"a"', 'W/"a"'));
    assert.ok(etagMatches('*', 'W/"a"'));
    assert.ok(!etagMatches('W/"b"', 'W/"a"'));
  });
});
