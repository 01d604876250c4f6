/**
 * A monotonic clock in milliseconds. Every time-dependent object accepts one so tests can
 * drive time by hand instead of sleeping (lru-cache's `perf` option works the same way).
 */
export interface Clock {
  now(): number;
}

export const monotonicClock: Clock = { now: () => performance.now() };
