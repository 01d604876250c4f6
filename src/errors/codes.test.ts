import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, test } from 'node:test';
import {
  AbortedError,
  ClosedError,
  type ErrorCode,
  errorCodes,
  hasErrorCode,
  HotpathError,
  InvalidOptionError,
  isErrorCode,
} from './index.js';

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

describe('typed codes', () => {
  // The @ts-expect-error lines are checked by `npm run typecheck` (tsconfig includes src/):
  // if an unknown code were accepted, the directive itself would be an error.
  test('a class cannot carry a code the registry lacks: it does not type-check', () => {
    class TypoError extends HotpathError {
      constructor() {
        // @ts-expect-error HP_ERR_NOT_A_CODE is not in the registry
        super('HP_ERR_NOT_A_CODE', 'a code nobody documented');
      }
    }
    // @ts-expect-error a subclass's code parameter is the registry's union too
    class NarrowTypoError extends HotpathError<'HP_ERR_NOT_A_CODE'> {}
    assert.equal(new TypoError().code, 'HP_ERR_NOT_A_CODE');
    assert.equal(isErrorCode(new TypoError().code), false);
    assert.equal(typeof NarrowTypoError, 'function');
  });

  test("a subclass's code narrows to its own literal", () => {
    const code: 'HP_ERR_INVALID_OPTION' = new InvalidOptionError('x', 'bad').code;
    // @ts-expect-error an InvalidOptionError never carries HP_ERR_CLOSED
    const other: 'HP_ERR_CLOSED' = new InvalidOptionError('x', 'bad').code;
    const closed: 'HP_ERR_CLOSED' = new ClosedError('pool').code;
    assert.deepEqual(
      [code, other, closed],
      ['HP_ERR_INVALID_OPTION', 'HP_ERR_INVALID_OPTION', 'HP_ERR_CLOSED'],
    );
  });

  test('ErrorCode is the set of registry keys, and isErrorCode tells them apart', () => {
    const codes: ErrorCode[] = Object.keys(errorCodes).filter(isErrorCode);
    assert.deepEqual(codes, Object.keys(errorCodes));
    // @ts-expect-error a string that is not a code is not an ErrorCode
    const notACode: ErrorCode = 'HP_ERR_NOT_A_CODE';
    assert.equal(isErrorCode(notACode), false);
    assert.equal(isErrorCode('toString'), false);
    assert.equal(isErrorCode(42), false);
  });

  test('hasErrorCode matches on code, not class or message, and only takes registry codes', () => {
    const invalid = new InvalidOptionError('timeoutMs', 'expected a positive number');
    assert.equal(hasErrorCode(invalid, 'HP_ERR_INVALID_OPTION'), true);
    assert.equal(hasErrorCode(invalid, 'HP_ERR_ABORTED'), false);
    // Another copy of the package (or a plain Error given the code) matches as well.
    const foreign = Object.assign(new Error('reworded'), { code: 'HP_ERR_ABORTED' });
    assert.equal(hasErrorCode(foreign, 'HP_ERR_ABORTED'), true);
    assert.equal(hasErrorCode(new Error('HP_ERR_ABORTED'), 'HP_ERR_ABORTED'), false);
    assert.equal(hasErrorCode({ code: 'HP_ERR_ABORTED' }, 'HP_ERR_ABORTED'), false);
    assert.equal(hasErrorCode(undefined, 'HP_ERR_ABORTED'), false);
    // @ts-expect-error only registry codes can be asked for
    assert.equal(hasErrorCode(invalid, 'HP_ERR_INVALID_OPTIONS'), false);
  });

  test('InvalidOptionError keeps the reason apart from the option name', () => {
    const error = new InvalidOptionError('--duration', 'expected a duration such as 30s');
    assert.equal(error.reason, 'expected a duration such as 30s');
    assert.equal(error.message, 'invalid option "--duration": expected a duration such as 30s');
  });
});
