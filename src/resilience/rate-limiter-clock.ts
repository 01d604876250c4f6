import type { Clock } from '../internal/clock.js';
import { coarseClock } from '../internal/coarse-clock.js';

/**
 * The clock every limiter uses unless given one: `performance.now()`, cached while decisions
 * come within a millisecond of each other (`coarseClock`). A clock call costs about as much as
 * a whole awaited call on Node 20, more than the rest of a local decision, so the limiters read
 * this one (bench/resilience/rate-limit.bench.ts); decisions further apart read the clock and
 * arm no timer, so a process deciding a few hundred times a second is not woken after each.
 * Decisions that share a cached time see the bucket refill a little late, never early, so the
 * rate is never exceeded.
 */
export const defaultLimiterClock: Clock = coarseClock(() => performance.now());
