import { channel } from 'node:diagnostics_channel';
import type { Clock } from '../internal/clock.js';
import { toDecision, type RateLimitDecision, type RateLimitPolicy } from './gcra.js';

/** A refused decision, published on `hotpath:resilience:rate-limited` when it has subscribers. */
export interface RateLimitedMessage {
  name: string;
  key: string;
  cost: number;
  decision: RateLimitDecision;
}

/** @internal */
export const limitedChannel = channel('hotpath:resilience:rate-limited');

/**
 * One key's state in a local limiter, updated in place: its GCRA theoretical arrival time.
 * `live` turns false when the record leaves the map (forgotten, evicted, or the limiter
 * closed), so a {@link RateLimitBucket} holding it knows to look its key up again.
 */
export interface BucketRecord {
  tat: number;
  live: boolean;
}

/**
 * The store of a local limiter, shared by the limiter and the buckets it hands out: the map
 * of records, the counters, the clock and the policy's two integers. Internal: its fields
 * are written by both, which is why it is a plain object rather than the limiter's privates.
 */
export class LocalBuckets {
  readonly records = new Map<string, BucketRecord>();
  readonly policy: RateLimitPolicy;
  readonly intervalUs: number;
  readonly toleranceUs: number;
  readonly clock: Clock;
  readonly name: string;
  readonly #maxKeys: number;
  closed = false;
  allowed = 0;
  limited = 0;
  evicted = 0;

  constructor(policy: RateLimitPolicy, clock: Clock, name: string, maxKeys: number) {
    this.policy = policy;
    this.intervalUs = policy.intervalUs;
    this.toleranceUs = policy.toleranceUs;
    this.clock = clock;
    this.name = name;
    this.#maxKeys = maxKeys;
  }

  /**
   * Adds `key` with time `tat` (the key must be absent). Past `maxKeys` it first forgets the
   * keys whose bucket is full again, then, if that is not enough, the oldest.
   */
  add(key: string, nowUs: number, tat: number): BucketRecord {
    const records = this.records;
    if (records.size >= this.#maxKeys) {
      // Frees at least a tenth of maxKeys, so the O(n) sweep is paid once per n/10 new keys.
      for (const [k, r] of records)
        if (r.tat <= nowUs) {
          r.live = false;
          records.delete(k);
        }
      const target = Math.floor(this.#maxKeys * 0.9);
      for (const [k, r] of records) {
        if (records.size <= target) break;
        r.live = false;
        records.delete(k);
        this.evicted++;
      }
    }
    const record: BucketRecord = { tat, live: true };
    records.set(key, record);
    return record;
  }

  /** Publishes a refusal (call only when the channel has subscribers). */
  publishLimited(key: string, cost: number, outcome: number): RateLimitDecision {
    const decision = toDecision(outcome, cost, this.policy, 'local');
    const message: RateLimitedMessage = { name: this.name, key, cost, decision };
    limitedChannel.publish(message);
    return decision;
  }

  /** Forgets every key; their holders see them as gone. */
  clear(): void {
    for (const r of this.records.values()) r.live = false;
    this.records.clear();
  }
}
