import type { LatencyRecorder, LatencySummary } from './latency.js';

/** Mutable counters behind {@link CacheStats}. */
export interface Counters {
  l1Hits: number;
  l1Misses: number;
  l1Stale: number;
  l2Hits: number;
  l2Misses: number;
  l2Stale: number;
  l2Errors: number;
  factoryCalls: number;
  factoryErrors: number;
  factoryTimeouts: number;
  coalesced: number;
  remoteWaits: number;
  staleServed: number;
}

export function newCounters(): Counters {
  return {
    l1Hits: 0,
    l1Misses: 0,
    l1Stale: 0,
    l2Hits: 0,
    l2Misses: 0,
    l2Stale: 0,
    l2Errors: 0,
    factoryCalls: 0,
    factoryErrors: 0,
    factoryTimeouts: 0,
    coalesced: 0,
    remoteWaits: 0,
    staleServed: 0,
  };
}

/** A snapshot of a cache's counters, per tier, since it was created. */
export interface CacheStats {
  l1: {
    /** Fresh hits served from L1. */
    hits: number;
    /** Lookups L1 could not answer fresh (absent or expired). */
    misses: number;
    /** Stale L1 values served (stale-while-revalidate, factory failure, soft timeout). */
    staleServed: number;
    entries: number;
    /** Bytes counted against l1.maxBytes (0 when unbounded by bytes). */
    bytes: number;
  };
  l2: {
    enabled: boolean;
    /** Connected and not in its post-failure back-off. */
    available: boolean;
    hits: number;
    misses: number;
    staleServed: number;
    /** Failed or timed-out L2 operations (each one skipped L2 for l2RetryMs). */
    errors: number;
    /** Latency of L2 read round trips (one per MGET batch). */
    readLatency: LatencySummary;
  };
  factory: {
    calls: number;
    errors: number;
    timeouts: number;
    latency: LatencySummary;
  };
  singleFlight: {
    /** Calls that joined a load already running in this process. */
    coalesced: number;
    /** Loads that waited for another instance's lease instead of calling the factory. */
    remoteWaits: number;
  };
  writeBehind: { pending: number; flushed: number };
  /** Stale values served, all tiers. */
  staleServed: number;
}

/** The parts of a cache whose state {@link snapshotStats} reads. */
export interface StatsSources {
  l1: { readonly size: number; readonly bytes: number };
  l2: { readonly usable: boolean; readonly readLatency: LatencyRecorder } | undefined;
  factoryLatency: LatencyRecorder;
  queue: { readonly pending: number; readonly flushed: number } | undefined;
}

const NO_LATENCY: LatencySummary = { count: 0, meanMs: 0, p50Ms: 0, p99Ms: 0, maxMs: 0 };

/** The counters and the tiers' state as a {@link CacheStats} (a copy). */
export function snapshotStats(c: Counters, from: StatsSources): CacheStats {
  return {
    l1: {
      hits: c.l1Hits,
      misses: c.l1Misses,
      staleServed: c.l1Stale,
      entries: from.l1.size,
      bytes: from.l1.bytes,
    },
    l2: {
      enabled: from.l2 !== undefined,
      available: from.l2?.usable ?? false,
      hits: c.l2Hits,
      misses: c.l2Misses,
      staleServed: c.l2Stale,
      errors: c.l2Errors,
      readLatency: from.l2?.readLatency.summary() ?? { ...NO_LATENCY },
    },
    factory: {
      calls: c.factoryCalls,
      errors: c.factoryErrors,
      timeouts: c.factoryTimeouts,
      latency: from.factoryLatency.summary(),
    },
    singleFlight: { coalesced: c.coalesced, remoteWaits: c.remoteWaits },
    writeBehind: { pending: from.queue?.pending ?? 0, flushed: from.queue?.flushed ?? 0 },
    staleServed: c.staleServed,
  };
}
