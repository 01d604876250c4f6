/**
 * Every error class hotpath/db throws, one per failure a caller branches on. Their codes are
 * registered in src/errors/codes-db.ts and listed in docs/errors.md.
 */
import { hostname } from 'node:os';
import { HotpathError } from '../errors/index.js';

/** Fields a PostgreSQL error carries, from pg's DatabaseError or PGlite's error alike. */
interface DriverError {
  message?: string;
  code?: string;
  constraint?: string;
  detail?: string;
}

/**
 * The database rejected or failed a query (`HP_ERR_DB_QUERY`). Both backends throw it, so a
 * repository written once branches on {@link QueryError.sqlState} the same way on either.
 */
export class QueryError extends HotpathError<'HP_ERR_DB_QUERY'> {
  /** PostgreSQL SQLSTATE, e.g. `23505` for a unique violation; undefined when not from the server. */
  readonly sqlState: string | undefined;
  /** The constraint the server named, if any. */
  readonly constraint: string | undefined;
  /** The server's detail line, if any. */
  readonly detail: string | undefined;

  constructor(message: string, fields: DriverError = {}, options?: ErrorOptions) {
    super('HP_ERR_DB_QUERY', message, options);
    this.sqlState = fields.code;
    this.constraint = fields.constraint;
    this.detail = fields.detail;
  }

  /** Wraps a driver error, keeping it as the cause. */
  static from(error: unknown): QueryError {
    if (error instanceof QueryError) return error;
    const fields = (typeof error === 'object' && error !== null ? error : {}) as DriverError;
    const message = fields.message ?? String(error);
    return new QueryError(message, fields, { cause: error });
  }
}

/** The database could not be reached or did not start (`HP_ERR_DB_CONNECT`). */
export class ConnectError extends HotpathError<'HP_ERR_DB_CONNECT'> {
  constructor(message: string, options?: ErrorOptions) {
    super('HP_ERR_DB_CONNECT', message, options);
  }
}

/** A migration failed or was changed after it was applied (`HP_ERR_DB_MIGRATION`). */
export class MigrationError extends HotpathError<'HP_ERR_DB_MIGRATION'> {
  /** The migration's version. */
  readonly version: number;

  constructor(version: number, message: string, options?: ErrorOptions) {
    super('HP_ERR_DB_MIGRATION', message, options);
    this.version = version;
  }
}

/**
 * Another process has the embedded database's data directory open (`HP_ERR_DB_LOCKED`).
 * PGlite has no lock of its own: two processes on one directory overwrite each other's
 * files. The message names the lock file and the process holding it.
 */
export class DatabaseLockedError extends HotpathError<'HP_ERR_DB_LOCKED'> {
  /** The lock file. */
  readonly lockPath: string;
  /** The process holding it. */
  readonly pid: number;

  constructor(lockPath: string, holder: { pid: number; host: string }) {
    const who =
      holder.host === hostname()
        ? `process ${holder.pid}${holder.pid === process.pid ? ' (this process)' : ''}`
        : `process ${holder.pid} on host ${holder.host}`;
    super(
      'HP_ERR_DB_LOCKED',
      `the data directory is in use by ${who}: lock file ${lockPath}. Stop that process first ` +
        '(or use another DATA_DIR); delete the lock file only if no such process runs.',
    );
    this.lockPath = lockPath;
    this.pid = holder.pid;
  }
}

/**
 * No connection became free before the acquire deadline (`HP_ERR_DB_POOL_TIMEOUT`). The message
 * says how the pool stood (in use, waiting, max) and, when the leak detector is on, where the
 * longest-held client was acquired.
 */
export class PoolTimeoutError extends HotpathError<'HP_ERR_DB_POOL_TIMEOUT'> {
  /** The deadline that passed, in milliseconds. */
  readonly timeoutMs: number;

  constructor(timeoutMs: number, message: string, options?: ErrorOptions) {
    super('HP_ERR_DB_POOL_TIMEOUT', message, options);
    this.timeoutMs = timeoutMs;
  }
}

/** Strict N+1 detection saw one query shape run too often in one request (`HP_ERR_DB_N_PLUS_ONE`). */
export class NPlusOneError extends HotpathError<'HP_ERR_DB_N_PLUS_ONE'> {
  /** The normalized query. */
  readonly fingerprint: string;
  /** How many times it ran in the request. */
  readonly count: number;

  constructor(fingerprint: string, count: number, message: string) {
    super('HP_ERR_DB_N_PLUS_ONE', message);
    this.fingerprint = fingerprint;
    this.count = count;
  }
}

/** A pagination cursor could not be decoded or does not fit the query (`HP_ERR_DB_CURSOR_INVALID`). */
export class InvalidCursorError extends HotpathError<'HP_ERR_DB_CURSOR_INVALID'> {
  constructor(message: string, options?: ErrorOptions) {
    super('HP_ERR_DB_CURSOR_INVALID', message, options);
  }
}

/** No index matches the keyset ordering that was asked to be checked (`HP_ERR_DB_INDEX_MISSING`). */
export class MissingIndexError extends HotpathError<'HP_ERR_DB_INDEX_MISSING'> {
  /** The `CREATE INDEX` statement that would serve the query. */
  readonly suggestion: string;

  constructor(message: string, suggestion: string) {
    super('HP_ERR_DB_INDEX_MISSING', message);
    this.suggestion = suggestion;
  }
}
