import { InvalidOptionError } from '../errors/index.js';
import type { RateLimitDecision, RateLimitPolicy } from './gcra.js';

/**
 * Which rate-limit fields an allowed response carries (a 429 always carries `Retry-After`,
 * `RateLimit` and `RateLimit-Policy`): `'limit'` only `RateLimit`, the live counter a client
 * throttles by; `'all'` also `RateLimit-Policy`, which never changes; `'none'` neither. Each
 * field costs about 0.6 µs of CPU per response in Node's HTTP path on the 2-core development
 * machine, more than the decision (bench/resilience/rate-limit.bench.ts), hence `'limit'` by
 * default.
 */
export type RateLimitHeaderMode = 'limit' | 'all' | 'none';

/** @throws {@link InvalidOptionError} `HP_ERR_INVALID_OPTION` naming `headers`. */
export function checkHeaderMode(mode: unknown): RateLimitHeaderMode {
  if (mode === undefined) return 'limit';
  if (mode === 'limit' || mode === 'all' || mode === 'none') return mode;
  throw new InvalidOptionError('headers', `expected "limit", "all" or "none", got ${String(mode)}`);
}

// A policy name is sent as a Structured Field String (RFC 8941 §3.3.3): printable ASCII;
// quotes and backslashes are refused rather than escaped, to keep the value obvious.
const POLICY_NAME = /^[\x20-\x21\x23-\x5b\x5d-\x7e]+$/;

/**
 * The response fields of the IETF draft "RateLimit header fields for HTTP"
 * (draft-ietf-httpapi-ratelimit-headers-10, §3 and §4): `RateLimit-Policy: "default";q=100;w=60`
 * says the quota `q` per window of `w` seconds; `RateLimit: "default";r=42;t=3` says the
 * units remaining now and the seconds until more are available. Plus `Retry-After` (RFC 9110
 * §10.2.3) in whole seconds, rounded up, on a refusal. The policy field is built once; the
 * others per decision.
 * @example
 * const headers = new RateLimitHeaders(limiter.policy);
 * res.setHeader('RateLimit-Policy', headers.policy);
 * res.setHeader('RateLimit', headers.limit(decision));
 */
export class RateLimitHeaders {
  /** The `RateLimit-Policy` value, the same on every response. */
  readonly policy: string;
  readonly #prefix: string;
  readonly #burst: number;
  readonly #intervalUs: number;

  /** @throws {@link InvalidOptionError} `HP_ERR_INVALID_OPTION` for a bad `name`. */
  constructor(policy: RateLimitPolicy, name = 'default') {
    if (typeof name !== 'string' || !POLICY_NAME.test(name))
      throw new InvalidOptionError('policyName', 'expected printable ASCII without " or \\');
    // The draft's window is a whole number of seconds (§3.1.3) and its quota an integer
    // (§3.1.1): the rate is restated over the shortest whole-second window holding a unit.
    const perSecond = (policy.limit * 1000) / policy.periodMs;
    const w = Math.max(Math.ceil(policy.periodMs / 1000 - 1e-9), Math.ceil(1 / perSecond - 1e-9));
    const q = Math.floor(perSecond * w + 1e-9);
    this.policy = `"${name}";q=${q};w=${w}`;
    this.#prefix = `"${name}";r=`;
    this.#burst = policy.burst;
    this.#intervalUs = policy.intervalUs;
  }

  /**
   * The `RateLimit` value: `r`, the units remaining, and `t`, the seconds (rounded up) until
   * one more unit is available, which is 0 when the bucket is full. On a refusal `t` equals
   * `Retry-After`, as the draft asks that Retry-After not point earlier than `t` (§6).
   */
  limit(decision: RateLimitDecision): string {
    return `${this.#prefix}${decision.remaining};t=${this.#seconds(decision)}`;
  }

  /** The `Retry-After` value of a refusal: whole seconds, rounded up, at least 1. */
  retryAfter(decision: RateLimitDecision): string {
    const s = Math.ceil(decision.retryAfterMs / 1000);
    return String(s > 1 ? s : 1);
  }

  #seconds(decision: RateLimitDecision): number {
    if (!decision.allowed) {
      const s = Math.ceil(decision.retryAfterMs / 1000);
      return s > 1 ? s : 1;
    }
    const missing = this.#burst - decision.remaining;
    if (missing <= 0) return 0;
    // The bucket's time runs `resetMs` ahead; one more unit is free once it is back within
    // (missing - 1) intervals.
    const nextUs = Math.round(decision.resetMs * 1000) - (missing - 1) * this.#intervalUs;
    return nextUs > 0 ? Math.ceil(nextUs / 1_000_000) : 0;
  }
}
