import { TimeoutError, withTimeout } from '../../resilience/index.js';
import type { QueryExecutor } from './database.js';
import { ConnectError } from '../errors.js';

/**
 * Resolves when `db` answers `SELECT 1` within `timeoutMs`.
 * @throws {@link ConnectError} `HP_ERR_DB_CONNECT` when it does not answer in time; the query's
 *   own error when it fails.
 */
export async function pingWithin(db: QueryExecutor, timeoutMs: number): Promise<void> {
  try {
    await withTimeout(() => db.query('SELECT 1'), timeoutMs);
  } catch (error) {
    if (error instanceof TimeoutError) {
      throw new ConnectError(`no answer within ${timeoutMs} ms`, { cause: error });
    }
    throw error;
  }
}
