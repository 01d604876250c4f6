import type { Clock } from '../internal/clock.js';

/**
 * `performance.now()` read at most once per `resolutionMs`: the value is cached and an
 * unref'd timer clears it. A clock call costs about as much as a whole awaited call on Node
 * 20 (about 45 ns on the 2-core development machine), more than the rest of a local decision,
 * so the limiters read this one (bench/resilience/rate-limit.bench.ts). Decisions made in the
 * same turn of the event loop, or within `resolutionMs`, share one time: the bucket refills
 * a little late, never early, so the rate is never exceeded.
 */
export function coarseClock(resolutionMs = 1): Clock {
  let cached = -1;
  const reset = (): void => {
    cached = -1;
  };
  return {
    now(): number {
      if (cached >= 0) return cached;
      cached = performance.now();
      setTimeout(reset, resolutionMs).unref();
      return cached;
    },
  };
}

/** The clock every limiter uses unless given one: one timer at most per millisecond in all. */
export const defaultLimiterClock: Clock = coarseClock();
