import { InvalidOptionError } from '../errors/index.js';
import { checkNumber } from '../internal/validate-options.js';
import { RateLimitCostError } from './errors.js';

/**
 * A rate: a number of units per second, or `limit` units per `periodMs` milliseconds
 * (`{ limit: 100, periodMs: 60_000 }` is 100 a minute).
 */
export type Rate = number | { limit: number; periodMs: number };

/**
 * A rate limit as the limiters apply it: the rate and burst as given, and the two integers
 * the decision works with.
 */
export interface RateLimitPolicy {
  /** Units per `periodMs`, as given (a rate per second gives `periodMs` 1000). */
  readonly limit: number;
  readonly periodMs: number;
  /** Most units admitted at once from a full bucket. */
  readonly burst: number;
  /**
   * Microseconds one unit takes to come back (the GCRA emission interval): `periodMs` / `limit`
   * rounded up to a whole microsecond, so the limiter never admits more than the rate given.
   */
  readonly intervalUs: number;
  /** `burst` × `intervalUs`: how far ahead of now the theoretical arrival time may run. */
  readonly toleranceUs: number;
}

/** Where a decision was made. */
export type RateLimitSource = 'local' | 'redis' | 'fallback' | 'fail-open' | 'fail-closed';

/** The answer to one request for `cost` units. Times in milliseconds. */
export interface RateLimitDecision {
  /** Whether the units were granted (and consumed). */
  readonly allowed: boolean;
  /** Whole units still available right after this decision. */
  readonly remaining: number;
  /** 0 when allowed; otherwise the wait until the same request would be allowed. */
  readonly retryAfterMs: number;
  /** The wait until the bucket is full again (all `burst` units available). */
  readonly resetMs: number;
  /** Which store decided: see {@link RateLimitSource}. */
  readonly source: RateLimitSource;
}

// 2^53 / 4: room for now (~2^51 µs since 1970) plus a tolerance, every sum exact in a double.
const MAX_TOLERANCE_US = 2 ** 51;

/**
 * Resolves and checks `rate` and `burst` (the options of every limiter).
 * @throws {@link InvalidOptionError} `HP_ERR_INVALID_OPTION` naming `rate` or `burst`.
 */
export function resolvePolicy(rate: unknown, burst: unknown): RateLimitPolicy {
  let limit: number;
  let periodMs: number;
  if (typeof rate === 'number') {
    limit = checkNumber('rate', rate, { min: Number.MIN_VALUE });
    periodMs = 1000;
  } else if (rate !== null && typeof rate === 'object') {
    const r = rate as { limit?: unknown; periodMs?: unknown };
    limit = checkNumber('rate.limit', r.limit, { min: Number.MIN_VALUE });
    periodMs = checkNumber('rate.periodMs', r.periodMs, { min: Number.MIN_VALUE });
  } else {
    throw new InvalidOptionError('rate', 'expected units per second or { limit, periodMs }');
  }
  const exact = (periodMs * 1000) / limit;
  const nearest = Math.round(exact);
  // A quotient that is a whole number but for floating-point noise (1000 ms / 10 = 100,000
  // µs) keeps it; any other is rounded up, so the admitted rate never exceeds the one given.
  const intervalUs = Math.abs(exact - nearest) <= exact * 1e-12 ? nearest : Math.ceil(exact);
  if (intervalUs < 1 || exact < 1 - 1e-9)
    throw new InvalidOptionError(
      'rate',
      `at most 1,000,000 units per second, got ${limit * (1000 / periodMs)}`,
    );
  const b = checkNumber('burst', burst ?? Math.max(1, Math.floor(limit)), {
    min: 1,
    integer: true,
  });
  if (b * intervalUs > MAX_TOLERANCE_US)
    throw new InvalidOptionError(
      'burst',
      `burst × interval exceeds 2^51 µs (${b} × ${intervalUs})`,
    );
  return Object.freeze({ limit, periodMs, burst: b, intervalUs, toleranceUs: b * intervalUs });
}

/**
 * Checks that `cost` is a whole number of units the bucket can ever grant: a cost above
 * `burst` is refused with an error rather than denied forever, since no wait would help.
 * @throws {@link RateLimitCostError} `HP_ERR_RATE_LIMIT_COST`
 */
export function checkCost(cost: number, policy: RateLimitPolicy): void {
  if (!Number.isInteger(cost) || cost < 0 || cost > policy.burst)
    throw new RateLimitCostError(cost, policy.burst);
}

/**
 * One GCRA decision (the generic cell rate algorithm: a token bucket kept as a single time,
 * the theoretical arrival time `tat`, with no timer). All in integer microseconds; the Redis
 * script (redis-rate-limiter-script.ts) does the same operations in the same order, so both
 * give the same answer for the same stored time, `nowUs` and cost.
 *
 * Returns the outcome as one integer: `>= 0` allowed, the new `tat` minus `nowUs` (so the
 * caller stores `nowUs + result`); `< 0` denied, `-(max(tat, nowUs) - nowUs) - 1`, nothing
 * to store.
 *
 * ```
 *   now                                    tat' = max(tat, now) + cost × interval
 *    |------------ used = tat' - now --------------|
 *    |------ tolerance = burst × interval ------|      used > tolerance: denied
 * ```
 */
export function gcra(
  tat: number | undefined,
  nowUs: number,
  cost: number,
  intervalUs: number,
  toleranceUs: number,
): number {
  const start = tat === undefined || tat < nowUs ? nowUs : tat;
  const used = start + cost * intervalUs - nowUs;
  return used <= toleranceUs ? used : nowUs - start - 1;
}

/** Turns {@link gcra}'s integer into a decision. */
export function toDecision(
  outcome: number,
  cost: number,
  policy: RateLimitPolicy,
  source: RateLimitSource,
): RateLimitDecision {
  const allowed = outcome >= 0;
  const used = allowed ? outcome : -outcome - 1;
  const remaining = Math.floor((policy.toleranceUs - used) / policy.intervalUs);
  return {
    allowed,
    // Negative only if the clock went back after a write; report none left then.
    remaining: remaining > 0 ? remaining : 0,
    retryAfterMs: allowed ? 0 : (used + cost * policy.intervalUs - policy.toleranceUs) / 1000,
    resetMs: used / 1000,
    source,
  };
}

/** Microseconds from a millisecond clock reading, rounded the same way everywhere. */
export function toMicros(ms: number): number {
  return Math.round(ms * 1000);
}
