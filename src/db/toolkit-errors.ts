import { HotpathError } from '../errors/index.js';

/**
 * No connection became free before the acquire deadline (`HP_ERR_DB_POOL_TIMEOUT`). The message
 * says how the pool stood (in use, waiting, max) and, when the leak detector is on, where the
 * longest-held client was acquired.
 */
export class PoolTimeoutError extends HotpathError {
  /** The deadline that passed, in milliseconds. */
  readonly timeoutMs: number;

  constructor(timeoutMs: number, message: string, options?: ErrorOptions) {
    super('HP_ERR_DB_POOL_TIMEOUT', message, options);
    this.timeoutMs = timeoutMs;
  }
}

/** Strict N+1 detection saw one query shape run too often in one request (`HP_ERR_DB_N_PLUS_ONE`). */
export class NPlusOneError extends HotpathError {
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
export class InvalidCursorError extends HotpathError {
  constructor(message: string, options?: ErrorOptions) {
    super('HP_ERR_DB_CURSOR_INVALID', message, options);
  }
}

/** No index matches the keyset ordering that was asked to be checked (`HP_ERR_DB_INDEX_MISSING`). */
export class MissingIndexError extends HotpathError {
  /** The `CREATE INDEX` statement that would serve the query. */
  readonly suggestion: string;

  constructor(message: string, suggestion: string) {
    super('HP_ERR_DB_INDEX_MISSING', message);
    this.suggestion = suggestion;
  }
}
