import type { Clock } from '../internal/clock.js';

/**
 * Date.now() read at most once per `resolutionMs`: the value is cached and a timer (unref'd)
 * clears it, the way lru-cache's `ttlResolution` works. An L1 hit then costs a field read
 * instead of a clock call (bench/cache/l1-hit.bench.ts); expiry is late by under
 * `resolutionMs`. Used only when no clock is injected.
 */
export function coarseWallClock(resolutionMs = 1): Clock {
  let cached = 0;
  const reset = (): void => {
    cached = 0;
  };
  return {
    now(): number {
      if (cached !== 0) return cached;
      cached = Date.now();
      setTimeout(reset, resolutionMs).unref();
      return cached;
    },
  };
}
