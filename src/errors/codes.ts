/**
 * Every error code hotpath can throw, with a one-line summary. Codes are stable: a code
 * MUST NOT be reused for a different failure, and a removed code stays reserved.
 * Each module keeps its codes in its own file here; `docs/errors.md` documents each one,
 * and a test checks the two lists match both ways. {@link ErrorCode}, the union of the keys,
 * is what `HotpathError` accepts, so a class cannot carry a code missing here.
 */
import { cacheCodes } from './codes-cache.js';
import { concurrencyCodes } from './codes-concurrency.js';
import { coreCodes } from './codes-core.js';
import { dbCodes } from './codes-db.js';
import { loadCodes } from './codes-load.js';
import { metricsCodes } from './codes-metrics.js';
import { profileCodes } from './codes-profile.js';
import { resilienceCodes } from './codes-resilience.js';

/** Every registered code and its one-line summary. */
export const errorCodes = Object.freeze({
  ...coreCodes,
  ...cacheCodes,
  ...dbCodes,
  ...loadCodes,
  ...metricsCodes,
  ...profileCodes,
  ...resilienceCodes,
  ...concurrencyCodes,
});

/** A code of the registry: `'HP_ERR_INVALID_OPTION' | 'HP_ERR_ABORTED' | ...`. */
export type ErrorCode = keyof typeof errorCodes;

/** Whether `value` is a registered code. */
export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(errorCodes, value);
}
