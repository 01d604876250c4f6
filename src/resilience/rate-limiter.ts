import { ClosedError, InvalidOptionError } from '../errors/index.js';
import type { Clock } from '../internal/clock.js';
import { checkNumber } from '../internal/validate-options.js';
import { RateLimitedError } from './errors.js';
import {
  checkCost,
  gcra,
  resolvePolicy,
  toDecision,
  toMicros,
  type Rate,
  type RateLimitDecision,
  type RateLimitPolicy,
} from './gcra.js';
import { limitedChannel, LocalBuckets } from './local-buckets.js';
import { RateLimitBucket } from './rate-limit-bucket.js';
import { defaultLimiterClock } from './rate-limiter-clock.js';
import { ReusedDecision } from './reused-decision.js';

export type { RateLimitedMessage } from './local-buckets.js';
/** @internal */
export { limitedChannel } from './local-buckets.js';

/** Counters of a limiter since it was made. */
export interface RateLimiterStats {
  /** Decisions that granted their units. */
  allowed: number;
  /** Decisions that refused. */
  limited: number;
  /** Failed or timed-out script calls to Redis (0 for a local limiter). */
  redisErrors: number;
  /** Decisions taken without Redis, by the fail policy (0 for a local limiter). */
  fallbacks: number;
}

/**
 * What the Fastify plugin, the `node:http` helper and callers need of a limiter: both
 * {@link LocalRateLimiter} and {@link RedisRateLimiter} are one.
 */
export interface RateLimiter {
  /** The rate and burst, as applied. */
  readonly policy: RateLimitPolicy;
  /**
   * Asks for `cost` units of `key`'s bucket; resolves with the decision (it does not reject
   * when limited).
   * @throws {@link RateLimitCostError} `HP_ERR_RATE_LIMIT_COST` (a rejection) for a cost
   * that is not a whole number in [0, burst]; {@link ClosedError} `HP_ERR_CLOSED` after close.
   */
  take(key: string, cost?: number): Promise<RateLimitDecision>;
  /** The same decision without a promise, when the limiter can decide synchronously. */
  takeSync?(key: string, cost?: number): RateLimitDecision;
  /**
   * Runs `fn` when `key` has `cost` units to spare.
   * @throws {@link RateLimitedError} `HP_ERR_RATE_LIMITED` when refused; `fn`'s error otherwise.
   */
  execute<T>(key: string, fn: () => Promise<T>, cost?: number): Promise<T>;
  stats(): RateLimiterStats;
  close(): Promise<void>;
}

/** Options of {@link LocalRateLimiter}. */
export interface LocalRateLimiterOptions {
  /** Units per second, or `{ limit, periodMs }`. Required. At most 1,000,000 a second. */
  rate: Rate;
  /** Most units granted at once from a full bucket. @defaultValue the rate's `limit` */
  burst?: number;
  /**
   * Keys remembered at most. Past it, keys whose bucket is full again are forgotten (no
   * loss: a full bucket and an unknown key are the same); if that is not enough, the oldest
   * keys are, which lets them start again with a full burst (counted in `evicted`).
   * @defaultValue 100,000
   */
  maxKeys?: number;
  /**
   * Milliseconds clock. @defaultValue `performance.now()` read at most once a millisecond
   * (decisions of one event-loop turn share a time, so refills come late, never early)
   */
  clock?: Clock;
  /** Name in diagnostics messages and metrics. @defaultValue `'local'` */
  name?: string;
}

/**
 * A GCRA rate limiter in this process (a token bucket kept as one number per key, with no
 * timer): each key may take `burst` units at once, then `rate`. Decisions are synchronous
 * (`takeSync`) and cost a map lookup; `take` wraps one in a resolved promise. Its arithmetic
 * is the Redis limiter's, so both give the same decisions for the same times.
 * @example
 * const limiter = new LocalRateLimiter({ rate: { limit: 100, periodMs: 60_000 }, burst: 20 });
 * const decision = limiter.takeSync(userId);
 * if (!decision.allowed) return tooMany(decision.retryAfterMs);
 */
export class LocalRateLimiter implements RateLimiter {
  readonly policy: RateLimitPolicy;
  readonly #store: LocalBuckets;
  readonly #reused: ReusedDecision;

  /** @throws {@link InvalidOptionError} `HP_ERR_INVALID_OPTION` naming a bad option. */
  constructor(options: LocalRateLimiterOptions) {
    if (options === null || typeof options !== 'object')
      throw new InvalidOptionError('rate', 'expected options with a rate');
    this.policy = resolvePolicy(options.rate, options.burst);
    this.#reused = new ReusedDecision(this.policy);
    const maxKeys = checkNumber('maxKeys', options.maxKeys ?? 100_000, { min: 1, integer: true });
    const clock = options.clock ?? defaultLimiterClock;
    if (typeof clock.now !== 'function')
      throw new InvalidOptionError('clock', 'expected an object with now()');
    this.#store = new LocalBuckets(this.policy, clock, options.name ?? 'local', maxKeys);
  }

  /**
   * Asks for `cost` units (default 1) of `key`'s bucket now.
   * @throws {@link RateLimitCostError} `HP_ERR_RATE_LIMIT_COST`; {@link ClosedError} `HP_ERR_CLOSED`.
   */
  takeSync(key: string, cost = 1): RateLimitDecision {
    if (this.#store.closed) throw new ClosedError('rate limiter');
    if (cost !== 1) checkCost(cost, this.policy);
    return this.#decide(key, cost, toMicros(this.#store.clock.now()));
  }

  /**
   * {@link LocalRateLimiter.takeSync} without allocating: the decision returned is one object
   * per limiter that the next `tryTake` writes over, so read its fields before the limiter's
   * next decision (`takeSync` returns an object of the caller's own). The fastest way to
   * guard a call by a key known only per call: `if (!limiter.tryTake(key).allowed) return
   * tooMany()`; for a key held across calls, {@link LocalRateLimiter.bucket} saves the lookup.
   * @throws {@link RateLimitCostError} `HP_ERR_RATE_LIMIT_COST`; {@link ClosedError} `HP_ERR_CLOSED`.
   */
  tryTake(key: string, cost = 1): RateLimitDecision {
    const store = this.#store;
    if (store.closed) throw new ClosedError('rate limiter');
    if (cost !== 1) checkCost(cost, this.policy);
    // One clock read (the coarse clock's cached value), one map read, integer math and a
    // field write: no object, no promise (bench/resilience/rate-limit.bench.ts).
    const nowUs = Math.round(store.clock.now() * 1000);
    const record = store.records.get(key);
    const outcome = gcra(record?.tat, nowUs, cost, store.intervalUs, store.toleranceUs);
    const decision = this.#reused;
    decision.outcome = outcome;
    decision.cost = cost;
    if (outcome >= 0) {
      store.allowed++;
      if (record !== undefined) record.tat = nowUs + outcome;
      else if (cost > 0) store.add(key, nowUs, nowUs + outcome);
      return decision;
    }
    store.limited++;
    if (limitedChannel.hasSubscribers) store.publishLimited(key, cost, outcome);
    return decision;
  }

  /**
   * `key`'s bucket, resolved once, for a caller that holds the key across calls: its
   * `tryTake(cost?)` decides as `tryTake(key, cost)` does, on the same state, without the
   * map lookup. Hold it; each call makes a new one.
   * @throws {@link ClosedError} `HP_ERR_CLOSED` after close.
   * @example
   * const route = limiter.bucket('POST /api/payments');
   * if (!route.tryTake().allowed) return tooMany();
   */
  bucket(key: string): RateLimitBucket {
    if (this.#store.closed) throw new ClosedError('rate limiter');
    return new RateLimitBucket(this.#store, key);
  }

  /** {@link LocalRateLimiter.takeSync} as a promise (rejected rather than thrown). */
  take(key: string, cost = 1): Promise<RateLimitDecision> {
    // The usual call (cost 1, open) goes straight to the decision: every call level shows in
    // the cost of an awaited decision (bench/resilience/rate-limit.bench.ts).
    if (cost === 1 && !this.#store.closed)
      return Promise.resolve(this.#decide(key, 1, toMicros(this.#store.clock.now())));
    try {
      return Promise.resolve(this.takeSync(key, cost));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** @throws {@link RateLimitedError} `HP_ERR_RATE_LIMITED` when refused. */
  execute<T>(key: string, fn: () => Promise<T>, cost = 1): Promise<T> {
    let decision: RateLimitDecision;
    try {
      decision = this.takeSync(key, cost);
    } catch (error) {
      return Promise.reject(error);
    }
    if (!decision.allowed) return Promise.reject(new RateLimitedError(decision.retryAfterMs));
    try {
      return fn();
    } catch (error) {
      return Promise.reject(error);
    }
  }

  #decide(key: string, cost: number, nowUs: number): RateLimitDecision {
    const store = this.#store;
    const p = this.policy;
    // A record is an object updated in place: a map read and a field write per decision,
    // not a read and a write of the map (bench/resilience/rate-limit.bench.ts).
    const record = store.records.get(key);
    const outcome = gcra(record?.tat, nowUs, cost, p.intervalUs, p.toleranceUs);
    if (outcome >= 0) {
      store.allowed++;
      if (record !== undefined) record.tat = nowUs + outcome;
      else if (cost > 0) store.add(key, nowUs, nowUs + outcome);
      return toDecision(outcome, cost, p, 'local');
    }
    store.limited++;
    if (limitedChannel.hasSubscribers) return store.publishLimited(key, cost, outcome);
    return toDecision(outcome, cost, p, 'local');
  }

  /** Keys remembered now. */
  get size(): number {
    return this.#store.records.size;
  }

  /** Counters; `evicted` counts keys forgotten before their bucket was full again. */
  stats(): RateLimiterStats & { evicted: number; keys: number } {
    const store = this.#store;
    return {
      allowed: store.allowed,
      limited: store.limited,
      redisErrors: 0,
      fallbacks: 0,
      evicted: store.evicted,
      keys: store.records.size,
    };
  }

  /** Forgets every key and refuses further decisions (its buckets' too) with {@link ClosedError}. */
  close(): Promise<void> {
    this.#store.closed = true;
    this.#store.clear();
    return Promise.resolve();
  }
}
