import { toDecision, type RateLimitDecision, type RateLimitPolicy } from './gcra.js';

/**
 * A local decision written over by each call of its owner (a limiter's `tryTake`, or one
 * bucket's), so a decision allocates nothing. It keeps GCRA's integers and derives the
 * fields when read, so a caller that reads only `allowed` pays for no division.
 */
export class ReusedDecision implements RateLimitDecision {
  /** gcra()'s outcome: >= 0 allowed (new tat - now), < 0 denied. */
  outcome = 0;
  cost = 1;
  readonly source = 'local' as const;
  readonly #policy: RateLimitPolicy;

  constructor(policy: RateLimitPolicy) {
    this.#policy = policy;
  }

  get allowed(): boolean {
    return this.outcome >= 0;
  }

  get remaining(): number {
    return toDecision(this.outcome, this.cost, this.#policy, 'local').remaining;
  }

  get retryAfterMs(): number {
    return toDecision(this.outcome, this.cost, this.#policy, 'local').retryAfterMs;
  }

  get resetMs(): number {
    return toDecision(this.outcome, this.cost, this.#policy, 'local').resetMs;
  }

  toJSON(): RateLimitDecision {
    return toDecision(this.outcome, this.cost, this.#policy, 'local');
  }
}
