import type { Clock } from '../internal/clock.js';

/**
 * `Date.now()`, read at most once per millisecond while reads come faster than that: when
 * two reads land in the same millisecond, the value is cached and a timer (unref'd) clears it
 * a millisecond later, the way lru-cache's `ttlResolution` works. A busy L1 then costs a field
 * read per hit instead of a clock call (bench/cache/l1-hit.bench.ts), and expiry is late by
 * under a millisecond. Reads further apart arm no timer: at a few hundred requests per second
 * a timer per request would wake a process that had nothing else to do, and on this VM a
 * wake-up costs tens of microseconds of CPU against a fraction of one for `Date.now()`
 * (docs/cache.md, "Round trips and wake-ups"). Used only when no clock is injected.
 */
export function coarseWallClock(): Clock {
  let cached = 0;
  let last = 0;
  const reset = (): void => {
    cached = 0;
  };
  return {
    now(): number {
      if (cached !== 0) return cached;
      const now = Date.now();
      if (now === last) {
        cached = now;
        setTimeout(reset, 1).unref();
      }
      last = now;
      return now;
    },
  };
}
