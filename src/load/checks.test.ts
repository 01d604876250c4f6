import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { InvalidOptionError } from '../errors/index.js';
import { compileCheck, parseJsonPath, validateCheck } from './checks.js';
import { validateMix } from './request-mix.js';

const body = (value: unknown) => Buffer.from(JSON.stringify(value));

describe('response checks', () => {
  test('parses dotted, indexed and quoted JSON paths into segments', () => {
    assert.deepEqual(parseJsonPath('$', 'w'), []);
    assert.deepEqual(parseJsonPath('$.a.b', 'w'), ['a', 'b']);
    assert.deepEqual(parseJsonPath('$.items[2].id', 'w'), ['items', 2, 'id']);
    assert.deepEqual(parseJsonPath('$["odd key"].x', 'w'), ['odd key', 'x']);
  });

  test('rejects JSON paths it does not support, naming the path', () => {
    for (const bad of ['a.b', '$.a[*]', '$..a', '$.a[-1]', '$.']) {
      assert.throws(
        () => parseJsonPath(bad, 'requests[0].check.json'),
        (e: unknown) => e instanceof InvalidOptionError && e.message.includes('requests[0]'),
        bad,
      );
    }
  });

  test('a status check passes the listed statuses only and needs no body', () => {
    const one = compileCheck({ status: 201 }, 'w')!;
    assert.equal(one.needsBody, false);
    assert.equal(one.run(201, null), null);
    assert.equal(one.run(200, null), 'status');
    const set = compileCheck({ status: [200, 201] }, 'w')!;
    assert.equal(set.run(200, null), null);
    assert.equal(set.run(201, null), null);
    assert.equal(set.run(500, null), 'status');
  });

  test('a JSON check compares each path with its expected value and names the first that differs', () => {
    const check = compileCheck(
      { json: { '$.status': 'authorized', '$.items[0].amount': 500, '$.meta': { ok: true } } },
      'w',
    )!;
    assert.equal(check.needsBody, true);
    const good = { status: 'authorized', items: [{ amount: 500 }], meta: { ok: true } };
    assert.equal(check.run(200, body(good)), null);
    assert.equal(check.run(200, body({ ...good, status: 'declined' })), '$.status');
    assert.equal(check.run(200, body({ ...good, items: [] })), '$.items[0].amount');
    assert.equal(check.run(200, body({ ...good, meta: { ok: 'true' } })), '$.meta');
    assert.equal(check.run(200, body({ status: 'authorized' })), '$.items[0].amount');
  });

  test('a body that is not JSON fails the JSON check', () => {
    const check = compileCheck({ json: { '$.status': 'authorized' } }, 'w')!;
    assert.equal(check.run(200, Buffer.from('<html>')), '$.status');
    assert.equal(check.run(200, null), '$.status');
  });

  test('the status is checked before the body', () => {
    const check = compileCheck({ status: 201, json: { '$.status': 'authorized' } }, 'w')!;
    assert.equal(check.run(500, body({ status: 'authorized' })), 'status');
    assert.equal(check.run(201, body({ status: 'authorized' })), null);
  });

  test('rejects malformed checks with the entry named', () => {
    const cases: unknown[] = [
      'status',
      { status: 'ok' },
      { status: [] },
      { status: 42 },
      { json: [] },
      { json: { status: 1 } },
      { body: 'x' },
    ];
    for (const c of cases) {
      assert.throws(
        () => validateCheck(c, 'requests[3].check'),
        (e: unknown) => e instanceof InvalidOptionError && e.message.includes('requests[3].check'),
        JSON.stringify(c),
      );
    }
    assert.throws(
      () => validateMix({ requests: [{ path: '/', check: { status: 'x' } }] }),
      InvalidOptionError,
    );
    assert.throws(() => validateMix({ requests: [{ path: '/', name: '' }] }), InvalidOptionError);
  });
});
