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
export class QueryError extends HotpathError {
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
export class ConnectError extends HotpathError {
  constructor(message: string, options?: ErrorOptions) {
    super('HP_ERR_DB_CONNECT', message, options);
  }
}

/** A migration failed or was changed after it was applied (`HP_ERR_DB_MIGRATION`). */
export class MigrationError extends HotpathError {
  /** The migration's version. */
  readonly version: number;

  constructor(version: number, message: string, options?: ErrorOptions) {
    super('HP_ERR_DB_MIGRATION', message, options);
    this.version = version;
  }
}
