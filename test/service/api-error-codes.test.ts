import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ApiError, type ApiErrorCode, statusByCode } from '../../service/errors.js';

// The @ts-expect-error lines are checked by `npm run typecheck` (tsconfig includes test/): if
// a code missing from statusByCode were accepted, the directive itself would be an error.
describe('API error codes', () => {
  test('an ApiError cannot carry a code the table lacks: it does not type-check', () => {
    // @ts-expect-error NOT_A_CODE has no status in statusByCode
    const error = new ApiError('NOT_A_CODE', 'a code nobody documented');
    assert.equal(error.code in statusByCode, false);
    // @ts-expect-error a string that is not a code is not an ApiErrorCode
    const notACode: ApiErrorCode = 'RATE_LIMITD';
    assert.equal(notACode in statusByCode, false);
  });

  test('code and statusCode narrow to the literal given and its status', () => {
    const error = new ApiError('RATE_LIMITED', 'slow down');
    const code: 'RATE_LIMITED' = error.code;
    const status: 429 = error.statusCode;
    // @ts-expect-error a RATE_LIMITED error never answers 503
    const wrong: 503 = error.statusCode;
    assert.deepEqual([code, status, wrong], ['RATE_LIMITED', 429, 429]);
    assert.equal(new ApiError('DATABASE_UNAVAILABLE', 'down').statusCode, 503);
    assert.equal(new ApiError('IDEMPOTENCY_KEY_REUSED', 'other body').statusCode, 422);
  });
});
