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

function isUnavailableCode(value: unknown): boolean {
  if (typeof value !== 'string') return false;
  return (
    NETWORK_CODES.has(value) ||
    LIBRARY_CODES.has(value) ||
    SERVER_STATES.has(value) ||
    /^08[0-9A-Z]{3}$/.test(value)
  );
}

/**
 * True when `error`, or an error in its `cause` chain (or among an AggregateError's
 * `errors`), says the database is unreachable: a pg connection error (ECONNREFUSED,
 * ECONNRESET, EPIPE, ETIMEDOUT, "Connection terminated", SQLSTATE class 08, 57P01, 57P02,
 * 57P03, 53300), hotpath/db's `ConnectError` or `PoolTimeoutError`, or an error already
 * carrying the code `DATABASE_UNAVAILABLE`. A query the server rejected (a constraint, a
 * syntax error) is not.
 * @example
 * try { await repository.insert(payment) }
 * catch (error) { if (isDatabaseUnavailable(error)) return retryLater(); throw error }
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  const seen = new Set<unknown>();
  const pending: Array<{ error: unknown; depth: number }> = [{ error, depth: 0 }];
  for (let item = pending.pop(); item !== undefined; item = pending.pop()) {
    const current = item.error;
    if (typeof current !== 'object' || current === null || seen.has(current)) continue;
    seen.add(current);
    const fields = current as { code?: unknown; sqlState?: unknown; message?: unknown };
    if (isUnavailableCode(fields.code) || isUnavailableCode(fields.sqlState)) return true;
    if (typeof fields.message === 'string' && DRIVER_MESSAGES.test(fields.message)) return true;
    if (item.depth >= MAX_DEPTH) continue;
    const { cause, errors } = current as { cause?: unknown; errors?: unknown };
    if (cause !== undefined) pending.push({ error: cause, depth: item.depth + 1 });
    if (Array.isArray(errors)) {
      for (const inner of errors) pending.push({ error: inner, depth: item.depth + 1 });
    }
  }
  return false;
}
