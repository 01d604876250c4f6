import type { Clock } from './clock.js';

/**
 * `read()` (a clock such as `Date.now` or `performance.now`), called at most once per
 * `resolutionMs` while reads come faster than that: when two reads land within `resolutionMs`
 * of each other, the value is cached and an unref'd timer clears it `resolutionMs` later, the
 * way lru-cache's `ttlResolution` works. A busy caller then pays a field read per call instead
 * of a clock call (about 45 ns on the 2-core development machine: bench/cache/l1-hit.bench.ts,
 * bench/resilience/rate-limit.bench.ts), and the time it sees is late by under `resolutionMs`,
 * never early. Reads further apart arm no timer: at a few hundred requests per second a timer
 * per request would wake a process that had nothing else to do, and on this VM a wake-up
 * costs tens of microseconds of CPU against a fraction of one for the clock call
 * (docs/cache.md, "Round trips and wake-ups").
 */
export function coarseClock(read: () => number, resolutionMs = 1): Clock {
  let cached = -1;
  let last = -Infinity;
  const reset = (): void => {
    cached = -1;
  };
  return {
    now(): number {
      if (cached >= 0) return cached;
      const now = read();
      if (now - last < resolutionMs) {
        cached = now;
        setTimeout(reset, resolutionMs).unref();
      }
      last = now;
      return now;
    },
  };
}

/** {@link coarseClock} over `Date.now()`: the wall clock, read at most once per millisecond. */
export function coarseWallClock(): Clock {
  return coarseClock(() => Date.now());
}
