import type { ErrorCode } from './codes.js';
import type { HotpathError } from './hotpath-error.js';

/**
 * Whether `error` is an error carrying `code`: the test callers use to branch on a failure
 * (`if (hasErrorCode(error, 'HP_ERR_CIRCUIT_OPEN')) ...`), typed so that a code missing from
 * the registry does not compile. It matches on `code`, not on the class, so it also holds for
 * an error thrown by another copy of hotpath in the same process.
 *
 * @example
 * try {
 *   await breaker.execute(call);
 * } catch (error) {
 *   if (hasErrorCode(error, 'HP_ERR_CIRCUIT_OPEN')) return fallback();
 *   throw error;
 * }
 */
export function hasErrorCode<C extends ErrorCode>(
  error: unknown,
  code: C,
): error is HotpathError<C> {
  return error instanceof Error && (error as { code?: unknown }).code === code;
}
