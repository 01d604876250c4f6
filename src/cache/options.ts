import type { Redis } from 'ioredis';
import { InvalidOptionError } from '../errors/index.js';
import type { Clock } from '../internal/clock.js';
import { checkNumber } from '../internal/validate-options.js';
import type { Serializer } from './serializer.js';

/** Options of {@link createCache}. */
export interface CacheOptions {
  /** Prefix of every Redis key and of the pub/sub channel; separates caches sharing a Redis. */
  namespace: string;
  /** The in-process tier. */
  l1?: {
    /** Maximum number of entries. @defaultValue 10000 */
    max?: number;
    /** Maximum total size in bytes, as measured by `sizeOf`; evicts to stay under it. */
    maxBytes?: number;
    /**
     * Longest time an entry lives in L1 before it is re-read from L2, which bounds how stale
     * an instance can be if an invalidation message is lost. Ignored without L2.
     * @defaultValue 10000
     */
    ttlMs?: number;
    /** Size of a value in bytes, for `maxBytes`. @defaultValue an estimate of the heap it holds */
    sizeOf?: (value: unknown) => number;
  };
  /**
   * The L2 tier: an ioredis client you own and connect (the cache never closes it). The
   * cache opens one extra connection (`client.duplicate()`) for pub/sub and closes it.
   */
  l2?: Redis;
  /** Encodes values for L2. @defaultValue {@link jsonSerializer} */
  serializer?: Serializer;
  /** Default fresh lifetime of an entry. @defaultValue 60000 */
  ttlMs?: number;
  /**
   * Each TTL is shortened by a random fraction in [0, jitter) so that keys written together
   * do not expire together. @defaultValue 0.1
   */
  jitter?: number;
  /**
   * `through`: `set` resolves once L2 holds the value. `behind`: `set` resolves once L1
   * holds it and the L2 write is queued (batched, flushed by `close()`). @defaultValue 'through'
   */
  writeMode?: 'through' | 'behind';
  /** Write-behind batching. */
  writeBehind?: {
    /** @defaultValue 50 */
    flushIntervalMs?: number;
    /** @defaultValue 500 */
    maxBatch?: number;
    /** How long `close()` keeps retrying the flush while L2 is down. @defaultValue 5000 */
    closeTimeoutMs?: number;
  };
  /** Deadline of every L2 operation; past it L2 counts as down. @defaultValue 200 */
  l2TimeoutMs?: number;
  /**
   * L2 reads issued in the same event-loop turn go out as MGETs of at most this many keys,
   * pipelined and split evenly (100 reads: two MGETs of 50). @defaultValue 64
   */
  l2ReadBatch?: number;
  /** After an L2 failure, L2 is skipped for this long before it is tried again. @defaultValue 1000 */
  l2RetryMs?: number;
  /** Lifetime of the cross-instance compute lease (the longest a crashed holder blocks others). @defaultValue 10000 */
  leaseMs?: number;
  /** Lifetime of the tombstone a delete leaves in L2. @defaultValue 30000 */
  tombstoneMs?: number;
  /** Wall clock in milliseconds (shared meaning across instances). @defaultValue Date.now */
  clock?: Clock;
  /** Random numbers in [0, 1) for jitter. @defaultValue Math.random */
  random?: () => number;
}

/** Options of `getOrSet`. Times are milliseconds. */
export interface GetOrSetOptions {
  /** Fresh lifetime (before jitter). @defaultValue the cache's `ttlMs` */
  ttlMs?: number;
  /** L1 lifetime; never longer than the L2 lifetime left. @defaultValue the cache's `l1.ttlMs` */
  l1TtlMs?: number;
  /**
   * After the fresh lifetime, the value may still be served for this long while one
   * background refresh runs, and whenever the factory fails or is slower than
   * `softTimeoutMs`. @defaultValue 0
   */
  staleMs?: number;
  /** Refresh in the background once this fraction of the TTL is left, in (0, 1). */
  refreshAhead?: number;
  /** When the factory returns undefined ("not found"), cache that for this long. @defaultValue 0 (not cached) */
  negativeTtlMs?: number;
  /** Serve a stale value if the factory has not answered by then (it keeps running and fills the cache). */
  softTimeoutMs?: number;
  /** Abort the factory and fail with CacheTimeoutError (or serve stale) after this long. */
  hardTimeoutMs?: number;
  /** Tags for `deleteByTag`. */
  tags?: readonly string[];
  /** Stops waiting (rejects with AbortedError); the shared factory keeps running for others. */
  signal?: AbortSignal;
}

/** Options of `set`. */
export type SetOptions = Pick<GetOrSetOptions, 'ttlMs' | 'l1TtlMs' | 'staleMs' | 'tags' | 'signal'>;

/** What a factory receives. */
export interface FactoryContext {
  key: string;
  /** Aborted on hardTimeoutMs or when the cache closes. */
  signal: AbortSignal;
  /** The stale value, when one exists (see `hasStale`). */
  staleValue: unknown;
  hasStale: boolean;
}

/** Computes a value on a miss; return undefined for "not found". */
export type Factory<T> = (context: FactoryContext) => T | undefined | Promise<T | undefined>;

/** getOrSet / set options after validation and defaults. */
export interface ResolvedOptions {
  ttlMs: number;
  l1TtlMs: number;
  staleMs: number;
  refreshAhead: number;
  negativeTtlMs: number;
  softTimeoutMs: number;
  hardTimeoutMs: number;
  tags: readonly string[] | undefined;
}

/** Validates per-call options; throws InvalidOptionError naming the option. */
export function resolveCallOptions(
  o: GetOrSetOptions,
  defaults: { ttlMs: number; l1TtlMs: number },
): ResolvedOptions {
  const ttlMs = o.ttlMs === undefined ? defaults.ttlMs : checkNumber('ttlMs', o.ttlMs, { min: 1 });
  const l1TtlMs =
    o.l1TtlMs === undefined ? defaults.l1TtlMs : checkNumber('l1TtlMs', o.l1TtlMs, { min: 0 });
  const refreshAhead =
    o.refreshAhead === undefined
      ? 0
      : checkNumber('refreshAhead', o.refreshAhead, { min: 0, max: 1 });
  if (o.refreshAhead !== undefined && (refreshAhead === 0 || refreshAhead === 1))
    throw new InvalidOptionError('refreshAhead', 'expected a fraction strictly between 0 and 1');
  const softTimeoutMs =
    o.softTimeoutMs === undefined ? 0 : checkNumber('softTimeoutMs', o.softTimeoutMs, { min: 1 });
  const hardTimeoutMs =
    o.hardTimeoutMs === undefined ? 0 : checkNumber('hardTimeoutMs', o.hardTimeoutMs, { min: 1 });
  if (softTimeoutMs > 0 && hardTimeoutMs > 0 && softTimeoutMs >= hardTimeoutMs)
    throw new InvalidOptionError('softTimeoutMs', 'must be shorter than hardTimeoutMs');
  if (o.tags !== undefined) {
    if (!Array.isArray(o.tags))
      throw new InvalidOptionError('tags', 'expected an array of strings');
    for (const tag of o.tags)
      if (typeof tag !== 'string' || tag.length === 0)
        throw new InvalidOptionError('tags', 'expected non-empty strings');
  }
  return {
    ttlMs,
    l1TtlMs,
    staleMs: o.staleMs === undefined ? 0 : checkNumber('staleMs', o.staleMs, { min: 0 }),
    refreshAhead,
    negativeTtlMs:
      o.negativeTtlMs === undefined ? 0 : checkNumber('negativeTtlMs', o.negativeTtlMs, { min: 0 }),
    softTimeoutMs,
    hardTimeoutMs,
    tags: o.tags === undefined || o.tags.length === 0 ? undefined : [...o.tags],
  };
}
