/**
 * Whether an error means the database cannot be reached (answered as 503
 * DATABASE_UNAVAILABLE with Retry-After), as opposed to a query the database rejected (a bug
 * or a conflict).
 */

/** Socket errors of a connection that could not be made or was lost. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/**
 * hotpath/db codes: the server could not be reached or the embedded engine died
 * (`HP_ERR_DB_CONNECT`), no pool connection freed up in time (`HP_ERR_DB_POOL_TIMEOUT`);
 * and the service's own code, for an error the payments domain already classified.
 */
const LIBRARY_CODES = new Set([
  'HP_ERR_DB_CONNECT',
  'HP_ERR_DB_POOL_TIMEOUT',
  'DATABASE_UNAVAILABLE',
]);

/**
 * SQLSTATEs of a server that is going away or refuses connections: 57P01 admin_shutdown
 * (also what pg_terminate_backend sends), 57P02 crash_shutdown, 57P03 cannot_connect_now
 * (starting up, recovering), 53300 too_many_connections. Class 08 (connection exception)
 * is matched by prefix.
 */
const SERVER_STATES = new Set(['57P01', '57P02', '57P03', '53300']);

/**
 * pg's errors without a code: a connection lost mid-query ("Connection terminated
 * unexpectedly", "Connection terminated due to connection timeout"), pg-pool's
 * connectionTimeoutMillis ("timeout exceeded when trying to connect"), and a client used
 * after its connection failed ("... is not queryable").
 */
const DRIVER_MESSAGES =
  /^Connection terminated|timeout exceeded when trying to connect|is not queryable/;

/** How far down a `cause` chain to look: wrappers are a few deep, a cycle must not hang. */
const MAX_DEPTH = 8;

/** A code hotpath/db gives its errors: below one, a socket error is the database's. */
const DB_ERROR_PREFIX = 'HP_ERR_DB_';

function isServerState(value: unknown): boolean {
  return typeof value === 'string' && (SERVER_STATES.has(value) || /^08[0-9A-Z]{3}$/.test(value));
}

/**
 * True when `error`, or an error in its `cause` chain (or among an AggregateError's
 * `errors`), says the database is unreachable:
 * - hotpath/db's `ConnectError` (`HP_ERR_DB_CONNECT`) or `PoolTimeoutError`
 *   (`HP_ERR_DB_POOL_TIMEOUT`), or an error already carrying the code `DATABASE_UNAVAILABLE`;
 * - a server going away or refusing connections: SQLSTATE class 08, 57P01, 57P02, 57P03,
 *   53300 (a `QueryError`'s `sqlState`, or pg's `code`);
 * - pg's words for a lost connection ("Connection terminated ...", "timeout exceeded when
 *   trying to connect", "... is not queryable");
 * - a socket error (ECONNREFUSED, ECONNRESET, EPIPE, ETIMEDOUT, ...) carried by a hotpath/db
 *   error, as `QueryError` carries the driver's. The same codes elsewhere (the gateway's
 *   connection, the client's own going away) are not the database.
 *
 * A query the server rejected (a constraint, a syntax error, a serialization failure) is not.
 * @example
 * try { await repository.insert(payment) }
 * catch (error) { if (isDatabaseUnavailable(error)) return retryLater(); throw error }
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  const seen = new Set<unknown>();
  const pending: Array<{ error: unknown; depth: number; underDb: boolean }> = [
    { error, depth: 0, underDb: false },
  ];
  for (let item = pending.pop(); item !== undefined; item = pending.pop()) {
    const current = item.error;
    if (typeof current !== 'object' || current === null || seen.has(current)) continue;
    seen.add(current);
    const fields = current as { code?: unknown; sqlState?: unknown; message?: unknown };
    const code = typeof fields.code === 'string' ? fields.code : undefined;
    if (code !== undefined && LIBRARY_CODES.has(code)) return true;
    if (isServerState(code) || isServerState(fields.sqlState)) return true;
    if (typeof fields.message === 'string' && DRIVER_MESSAGES.test(fields.message)) return true;
    const underDb = item.underDb || (code?.startsWith(DB_ERROR_PREFIX) ?? false);
    if (underDb) {
      for (const value of [code, fields.sqlState]) {
        if (typeof value === 'string' && NETWORK_CODES.has(value)) return true;
      }
    }
    if (item.depth >= MAX_DEPTH) continue;
    const { cause, errors } = current as { cause?: unknown; errors?: unknown };
    const depth = item.depth + 1;
    if (cause !== undefined) pending.push({ error: cause, depth, underDb });
    if (Array.isArray(errors)) {
      for (const inner of errors) pending.push({ error: inner, depth, underDb });
    }
  }
  return false;
}
