import { HotpathError } from '../errors/index.js';

/**
 * The factory passed to `getOrSet` threw (or rejected) and no stale value was available.
 * The factory's error is in `cause`. Code `HP_ERR_CACHE_LOADER`.
 */
export class CacheLoaderError extends HotpathError<'HP_ERR_CACHE_LOADER'> {
  /** The cache key whose factory failed. */
  readonly key: string;

  constructor(key: string, options?: ErrorOptions) {
    super('HP_ERR_CACHE_LOADER', `the factory for cache key "${key}" failed`, options);
    this.key = key;
  }
}

/**
 * The factory passed to `getOrSet` did not settle within `hardTimeoutMs` and no stale value
 * was available. The factory's `signal` is aborted. Code `HP_ERR_CACHE_TIMEOUT`.
 */
export class CacheTimeoutError extends HotpathError<'HP_ERR_CACHE_TIMEOUT'> {
  /** The cache key whose factory timed out. */
  readonly key: string;

  constructor(key: string, timeoutMs: number, options?: ErrorOptions) {
    super(
      'HP_ERR_CACHE_TIMEOUT',
      `the factory for cache key "${key}" did not settle within ${timeoutMs} ms`,
      options,
    );
    this.key = key;
  }
}

/**
 * A value cannot be serialized for the L2 tier (a function, a symbol, a cycle, a class the
 * serializer does not know), or an L2 payload cannot be read back. Code `HP_ERR_CACHE_SERIALIZE`.
 */
export class CacheSerializeError extends HotpathError<'HP_ERR_CACHE_SERIALIZE'> {
  constructor(message: string, options?: ErrorOptions) {
    super('HP_ERR_CACHE_SERIALIZE', message, options);
  }
}

/**
 * `close()` could not write every acknowledged write-behind entry to L2 within the flush
 * deadline (L2 stayed unreachable). `pending` says how many were not written.
 * Code `HP_ERR_CACHE_FLUSH`.
 */
export class CacheFlushError extends HotpathError<'HP_ERR_CACHE_FLUSH'> {
  /** How many queued writes could not be flushed. */
  readonly pending: number;

  constructor(pending: number, options?: ErrorOptions) {
    super(
      'HP_ERR_CACHE_FLUSH',
      `${pending} write-behind entries could not be flushed to L2`,
      options,
    );
    this.pending = pending;
  }
}
