import { ClosedError } from '../errors/index.js';
import { checkCost, gcra, type RateLimitDecision } from './gcra.js';
import { limitedChannel, type BucketRecord, type LocalBuckets } from './local-buckets.js';
import { ReusedDecision } from './reused-decision.js';

/**
 * One key of a {@link LocalRateLimiter}, resolved once: `limiter.bucket(key)`. For a caller
 * that holds a key across calls (a client connection, a tenant object, a per-route limit),
 * `tryTake` decides on the key's record it keeps, with no map lookup and no allocation.
 *
 * It shares the key's state with the limiter: `bucket(key).tryTake(cost)` and
 * `limiter.tryTake(key, cost)` are the same decision on the same bucket, in any order, and
 * count in the same `stats()`. When the limiter forgets the key (its bucket full again, or
 * evicted past `maxKeys`), the bucket notices at its next decision and looks the key up
 * again, exactly as a keyed call would: an eviction restarts the key with a full burst for
 * both, and a forgotten full bucket changes no decision.
 * @example
 * const perRoute = limiter.bucket('POST /api/payments');
 * if (!perRoute.tryTake().allowed) return tooMany();
 */
export class RateLimitBucket {
  /** The key this bucket decides for. */
  readonly key: string;
  readonly #store: LocalBuckets;
  readonly #decision: ReusedDecision;
  /** The key's record while it is in the map; undefined or not live: look the key up. */
  #record: BucketRecord | undefined;

  /** @internal Made by {@link LocalRateLimiter.bucket}. */
  constructor(store: LocalBuckets, key: string) {
    this.key = key;
    this.#store = store;
    this.#decision = new ReusedDecision(store.policy);
    this.#record = store.records.get(key);
  }

  /**
   * Asks for `cost` units (default 1) now. Returns this bucket's one decision object,
   * written over by its next `tryTake`: read its fields before then.
   * @throws {@link RateLimitCostError} `HP_ERR_RATE_LIMIT_COST`; {@link ClosedError} `HP_ERR_CLOSED`.
   */
  tryTake(cost = 1): RateLimitDecision {
    const record = this.#record;
    // A live record implies an open limiter (close() marks every record gone), so the fast
    // path reads its own fields only: no map read, no object, no promise
    // (bench/resilience/rate-limit.bench.ts, the bucket row).
    if (record === undefined || !record.live) return this.#takeResolving(cost);
    const store = this.#store;
    if (cost !== 1) checkCost(cost, store.policy);
    const nowUs = Math.round(store.clock.now() * 1000);
    const outcome = gcra(record.tat, nowUs, cost, store.intervalUs, store.toleranceUs);
    const decision = this.#decision;
    decision.outcome = outcome;
    decision.cost = cost;
    if (outcome >= 0) {
      store.allowed++;
      record.tat = nowUs + outcome;
      return decision;
    }
    store.limited++;
    if (limitedChannel.hasSubscribers) store.publishLimited(this.key, cost, outcome);
    return decision;
  }

  /** The decision when the key's record is not held: looks the key up, as a keyed call does. */
  #takeResolving(cost: number): RateLimitDecision {
    const store = this.#store;
    if (store.closed) throw new ClosedError('rate limiter');
    if (cost !== 1) checkCost(cost, store.policy);
    const nowUs = Math.round(store.clock.now() * 1000);
    const record = (this.#record = store.records.get(this.key));
    const outcome = gcra(record?.tat, nowUs, cost, store.intervalUs, store.toleranceUs);
    const decision = this.#decision;
    decision.outcome = outcome;
    decision.cost = cost;
    if (outcome >= 0) {
      store.allowed++;
      if (record !== undefined) record.tat = nowUs + outcome;
      else if (cost > 0) this.#record = store.add(this.key, nowUs, nowUs + outcome);
      return decision;
    }
    store.limited++;
    if (limitedChannel.hasSubscribers) store.publishLimited(this.key, cost, outcome);
    return decision;
  }
}
