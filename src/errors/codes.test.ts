import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, test } from 'node:test';
import { AbortedError, errorCodes, HotpathError, InvalidOptionError } from './index.js';

const docs = readFileSync(resolve(import.meta.dirname, '../../docs/errors.md'), 'utf8');
const documented = new Set([...docs.matchAll(/^### `?(HP_ERR_[A-Z0-9_]+)`?/gm)].map((m) => m[1]!));

describe('error code registry', () => {
  test('every registered code is documented in docs/errors.md', () => {
    const missing = Object.keys(errorCodes).filter((code) => !documented.has(code));
    assert.deepEqual(missing, []);
  });

  test('every documented code is registered', () => {
    const unknown = [...documented].filter((code) => !(code in errorCodes));
    assert.deepEqual(unknown, []);
  });

  test('codes follow HP_ERR_<CONCEPT>_<WHAT>', () => {
    for (const code of Object.keys(errorCodes))
      assert.match(code, /^HP_ERR_[A-Z0-9]+(_[A-Z0-9]+)*$/);
  });
});

describe('HotpathError', () => {
  test('carries a stable code, its subclass name and the cause', () => {
    const cause = new Error('root');
    const error = new AbortedError('stopped', { cause });
    assert.ok(error instanceof HotpathError);
    assert.equal(error.code, 'HP_ERR_ABORTED');
    assert.equal(error.name, 'AbortedError');
    assert.equal(error.cause, cause);
  });

  test('InvalidOptionError names the option in its message and field', () => {
    const error = new InvalidOptionError('timeoutMs', 'expected a positive number');
    assert.equal(error.code, 'HP_ERR_INVALID_OPTION');
    assert.equal(error.option, 'timeoutMs');
    assert.match(error.message, /timeoutMs/);
  });
});
