import { randomBytes } from 'node:crypto';
import type { Clock } from '../internal/clock.js';
import { type Envelope, type RecordHeader, decodeEnvelope, encodeEnvelope } from './envelope.js';
import type { InvalidationBus } from './invalidation-bus.js';
import { formatMessage } from './invalidation-bus.js';
import { LatencyRecorder } from './latency.js';
import type { L1Entry } from './memory-tier.js';
import type { MemoryTier } from './memory-tier.js';
import type { ResolvedOptions } from './options.js';
import type { L2Write, RedisTier } from './redis-tier.js';
import type { Serializer } from './serializer.js';
import { type Counters, newCounters } from './stats.js';

/** A value ready to be stored: its L1 entry and, with L2, its record. */
export interface Prepared {
  entry: L1Entry;
  /** The L2 write (undefined without L2). */
  write: L2Write | undefined;
}

/** Settings the core needs, already validated. */
export interface CoreSettings {
  l1: MemoryTier;
  l2: RedisTier | undefined;
  serializer: Serializer;
  clock: Clock;
  random: () => number;
  jitter: number;
  maxBytes: boolean;
  sizeOf: (value: unknown) => number;
  leaseMs: number;
  tombstoneMs: number;
}

const MAX_INVALIDATIONS = 50_000;

/**
 * State and helpers shared by the cache's public methods and its loader: the tiers, the
 * version clock, entry building, promotion from L2 and the record of recent invalidations.
 */
export class Core {
  readonly l1: MemoryTier;
  readonly l2: RedisTier | undefined;
  bus: InvalidationBus | undefined;
  readonly serializer: Serializer;
  readonly clock: Clock;
  readonly counters: Counters = newCounters();
  readonly factoryLatency = new LatencyRecorder();
  /** Identifies this instance's messages on the bus. */
  readonly origin = randomBytes(6).toString('base64url');
  readonly leaseMs: number;
  readonly tombstoneMs: number;
  readonly #settings: CoreSettings;
  readonly #tracked = new Set<Promise<unknown>>();
  /** Newest version announced by another instance per key, kept for leaseMs. */
  readonly #invalidated = new Map<string, { version: number; at: number }>();
  #lastVersion = 0;

  constructor(settings: CoreSettings) {
    this.#settings = settings;
    this.l1 = settings.l1;
    this.l2 = settings.l2;
    this.serializer = settings.serializer;
    this.clock = settings.clock;
    this.leaseMs = settings.leaseMs;
    this.tombstoneMs = settings.tombstoneMs;
  }

  /**
   * A hybrid-logical version: wall-clock ms × 1000, never below one more than any version
   * seen so far (ours or another instance's), so versions order writes across instances as
   * long as clocks agree within the time between two conflicting writes.
   */
  nextVersion(): number {
    this.#lastVersion = Math.max(Math.floor(this.clock.now()) * 1000, this.#lastVersion + 1);
    return this.#lastVersion;
  }

  observeVersion(version: number): void {
    if (version > this.#lastVersion) this.#lastVersion = version;
  }

  /** Records that another instance wrote `key` at `version`. */
  noteInvalidation(key: string, version: number): void {
    const now = this.clock.now();
    this.#invalidated.delete(key);
    this.#invalidated.set(key, { version, at: now });
    if (this.#invalidated.size > MAX_INVALIDATIONS) {
      for (const [k, v] of this.#invalidated) {
        if (this.#invalidated.size <= MAX_INVALIDATIONS / 2 && now - v.at < this.leaseMs) break;
        this.#invalidated.delete(k);
      }
    }
  }

  /** True when another instance announced a version of `key` newer than `version`. */
  isSuperseded(key: string, version: number): boolean {
    const seen = this.#invalidated.get(key);
    if (seen === undefined) return false;
    if (this.clock.now() - seen.at > this.leaseMs) {
      this.#invalidated.delete(key);
      return false;
    }
    return seen.version > version;
  }

  /** Builds the L1 entry and L2 record of a new value; throws CacheSerializeError first. */
  prepare(key: string, value: unknown, o: ResolvedOptions, version: number): Prepared {
    const negative = value === undefined;
    const s = this.#settings;
    const payload = this.l2 !== undefined && !negative ? this.serializer.serialize(value) : '';
    const now = this.clock.now();
    const baseTtl = negative ? o.negativeTtlMs : o.ttlMs;
    const ttl = baseTtl * (1 - s.jitter * s.random());
    const freshUntil = now + ttl;
    const staleUntil = freshUntil + (negative ? 0 : o.staleMs);
    const l1Until = this.l2 === undefined ? staleUntil : Math.min(now + o.l1TtlMs, staleUntil);
    const entry: L1Entry = {
      value,
      negative,
      version,
      hitUntil: Math.min(l1Until, freshUntil),
      l1Until,
      freshUntil,
      staleUntil,
      refreshAt: o.refreshAhead > 0 && !negative ? freshUntil - o.refreshAhead * ttl : Infinity,
      tags: o.tags,
      size: s.maxBytes ? s.sizeOf(value) : 1,
      resolved: undefined,
    };
    if (this.l2 === undefined) return { entry, write: undefined };
    const record = encodeEnvelope({
      version,
      freshUntil,
      staleUntil,
      negative,
      deleted: false,
      tags: o.tags,
      payload,
    });
    return {
      entry,
      write: {
        key,
        record,
        version,
        ttlMs: staleUntil - now,
        tags: o.tags,
        message: formatMessage('i', this.origin, version, key),
      },
    };
  }

  /** Stores an entry in L1 unless its lifetime there is zero. */
  installL1(key: string, entry: L1Entry): void {
    if (entry.l1Until > this.clock.now()) this.l1.set(key, entry);
  }

  /**
   * Installs a value read from L2 into L1. The L1 copy never outlives the L2 record and lives
   * at most `l1TtlMs`. Skipped when another instance has announced a newer version.
   */
  promote(
    key: string,
    env: RecordHeader,
    value: unknown,
    o: ResolvedOptions | undefined,
    l1TtlMs: number,
    refresh: boolean,
  ): void {
    if (this.isSuperseded(key, env.version)) return;
    const now = this.clock.now();
    const l1Until = Math.min(now + l1TtlMs, env.staleUntil);
    if (l1Until <= now) return;
    const s = this.#settings;
    this.l1.set(key, {
      value,
      negative: env.negative,
      version: env.version,
      hitUntil: Math.min(l1Until, env.freshUntil),
      l1Until,
      freshUntil: env.freshUntil,
      staleUntil: env.staleUntil,
      refreshAt:
        refresh && o !== undefined && o.refreshAhead > 0 && !env.negative
          ? env.freshUntil - o.refreshAhead * o.ttlMs
          : Infinity,
      tags: env.tags,
      size: s.maxBytes ? s.sizeOf(value) : 1,
      resolved: undefined,
    });
  }

  /** Decodes an L2 record; undefined when absent, a tombstone, expired or unreadable. */
  readRecord(text: string | null | undefined): { env: Envelope; value: unknown } | undefined {
    if (text === null || text === undefined) return undefined;
    const env = decodeEnvelope(text);
    if (env === undefined || env.deleted) return undefined;
    this.observeVersion(env.version);
    if (this.clock.now() >= env.staleUntil) return undefined;
    try {
      return { env, value: env.negative ? undefined : this.serializer.deserialize(env.payload) };
    } catch {
      this.counters.l2Errors++;
      return undefined;
    }
  }

  /** A tombstone record for delete. */
  tombstone(version: number): string {
    return encodeEnvelope({
      version,
      freshUntil: 0,
      staleUntil: 0,
      negative: false,
      deleted: true,
      tags: undefined,
      payload: '',
    });
  }

  /** Keeps a background L2 operation alive until close() awaits it. */
  track(work: Promise<unknown>): void {
    const p = work.catch(() => undefined).finally(() => this.#tracked.delete(p));
    this.#tracked.add(p);
  }

  /** Waits for every tracked background operation. */
  async settled(): Promise<void> {
    while (this.#tracked.size > 0) await Promise.all([...this.#tracked]);
  }
}
