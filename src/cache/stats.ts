import type { LatencySummary } from './latency.js';

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
