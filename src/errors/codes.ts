/**
 * Every error code hotpath can throw, with a one-line summary. Codes are stable: a code
 * MUST NOT be reused for a different failure, and a removed code stays reserved.
 * Each module keeps its codes in its own file here; `docs/errors.md` documents each one,
 * and a test checks the two lists match both ways.
 */
import { cacheCodes } from './codes-cache.js';
import { concurrencyCodes } from './codes-concurrency.js';
import { coreCodes } from './codes-core.js';
import { dbCodes } from './codes-db.js';
import { loadCodes } from './codes-load.js';
import { metricsCodes } from './codes-metrics.js';
import { profileCodes } from './codes-profile.js';
import { resilienceCodes } from './codes-resilience.js';

export const errorCodes: Readonly<Record<string, string>> = Object.freeze({
  ...coreCodes,
  ...cacheCodes,
  ...dbCodes,
  ...loadCodes,
  ...metricsCodes,
  ...profileCodes,
  ...resilienceCodes,
  ...concurrencyCodes,
});
