import { channel } from 'node:diagnostics_channel';
import { monotonicClock, type Clock } from '../internal/clock.js';
import { checkNumber } from '../internal/validate-options.js';
import { CircuitOpenError } from './errors.js';
import { enterGate, leaveGate } from './policy.js';

/** `closed`: calls pass. `open`: calls are refused. `half-open`: a few trial calls pass. */
export type CircuitState = 'closed' | 'open' | 'half-open';

/** Options of {@link CircuitBreaker}. Times in milliseconds. */
export interface CircuitBreakerOptions {
  /** Outcomes remembered: the breaker judges the last N calls. Default 20. */
  windowSize?: number;
  /** Calls in the window before the breaker judges at all. Default 10. */
  minimumCalls?: number;
  /** Open when this share of the window failed, in (0, 1]. Default 0.5. */
  failureRateThreshold?: number;
  /** A call slower than this counts as slow (even when it succeeds). Default: never slow. */
  slowCallMs?: number;
  /** Open when this share of the window was slow, in (0, 1]. Default 1 (only all-slow opens). */
  slowCallRateThreshold?: number;
  /** How long the circuit stays open before a trial. Default 5,000 ms. */
  openMs?: number;
  /** Trial calls let through when half-open; all must succeed to close. Default 1. */
  halfOpenCalls?: number;
  /** Which errors count as failures. Default: every error. */
  isFailure?: (error: unknown) => boolean;
  clock?: Clock;
  /** Name in diagnostics messages. */
  name?: string;
}

/** A state change, published on `hotpath:resilience:breaker` and to `onStateChange` listeners. */
export interface CircuitStateChange {
  name: string;
  from: CircuitState;
  to: CircuitState;
  failureRate: number;
  slowCallRate: number;
}

const stateChannel = channel('hotpath:resilience:breaker');

/**
 * What {@link CircuitBreaker}'s admission gives a call: for an admitted call, the state it
 * started in and its start time, carried to its end; for a refused one, the error. A field
 * read tells them apart: on Node 20 `instanceof` an error class cost as much as the rest of
 * the admission and the record together (the composed row of
 * bench/resilience/compose.bench.ts).
 */
export class CallTicket {
  readonly state: CircuitState;
  readonly startedAt: number;
  /** Set when the call is refused: the error to reject it with. */
  readonly refusal: CircuitOpenError | undefined;

  constructor(state: CircuitState, startedAt: number, refusal?: CircuitOpenError) {
    this.state = state;
    this.startedAt = startedAt;
    this.refusal = refusal;
  }
}

// Without slowCallMs a ticket is one of two constants: no allocation per call.
/** @internal */
export const CLOSED_UNTIMED = new CallTicket('closed', 0);
const HALF_OPEN_UNTIMED = new CallTicket('half-open', 0);

/**
 * A circuit breaker over a count-based sliding window (the last `windowSize` calls): it opens
 * when the failure rate or the slow-call rate crosses its threshold, refuses calls with
 * {@link CircuitOpenError} for `openMs`, then lets `halfOpenCalls` trial calls through and
 * closes if they all succeed.
 *
 * ```
 *  closed --(rate >= threshold)--> open --(openMs elapsed)--> half-open
 *     ^                              ^                            |
 *     +------(all trials succeed)----|----------------------------+
 *                                    +-----(a trial fails)--------+
 * ```
 * @example
 * const breaker = new CircuitBreaker({ failureRateThreshold: 0.5, slowCallMs: 1000 });
 * const result = await breaker.execute(() => callDependency());
 */
export class CircuitBreaker {
  readonly #windowSize: number;
  readonly #minimumCalls: number;
  readonly #failureThreshold: number;
  readonly #slowMs: number;
  readonly #slowThreshold: number;
  readonly #openMs: number;
  readonly #halfOpenCalls: number;
  readonly #isFailure: (error: unknown) => boolean;
  readonly #clock: Clock;
  readonly #name: string;
  readonly #listeners = new Set<(change: CircuitStateChange) => void>();

  // Ring buffer of outcomes: bit 1 = failed, bit 2 = slow.
  readonly #outcomes: Uint8Array;
  #next = 0;
  #count = 0;
  #failures = 0;
  #slow = 0;

  #state: CircuitState = 'closed';
  #openedAt = 0;
  #trialsStarted = 0;
  #trialsSucceeded = 0;

  /** @throws {@link InvalidOptionError} `HP_ERR_INVALID_OPTION` naming a bad option. */
  constructor(options: CircuitBreakerOptions = {}) {
    this.#windowSize = checkNumber('windowSize', options.windowSize ?? 20, {
      min: 1,
      max: 100_000,
      integer: true,
    });
    this.#minimumCalls = checkNumber(
      'minimumCalls',
      options.minimumCalls ?? Math.min(10, this.#windowSize),
      {
        min: 1,
        max: this.#windowSize,
        integer: true,
      },
    );
    this.#failureThreshold = checkNumber(
      'failureRateThreshold',
      options.failureRateThreshold ?? 0.5,
      {
        min: Number.EPSILON,
        max: 1,
      },
    );
    this.#slowMs =
      options.slowCallMs === undefined
        ? Infinity
        : checkNumber('slowCallMs', options.slowCallMs, { min: 0 });
    this.#slowThreshold = checkNumber('slowCallRateThreshold', options.slowCallRateThreshold ?? 1, {
      min: Number.EPSILON,
      max: 1,
    });
    this.#openMs = checkNumber('openMs', options.openMs ?? 5000, { min: 0 });
    this.#halfOpenCalls = checkNumber('halfOpenCalls', options.halfOpenCalls ?? 1, {
      min: 1,
      integer: true,
    });
    this.#isFailure = options.isFailure ?? (() => true);
    this.#clock = options.clock ?? monotonicClock;
    this.#name = options.name ?? 'breaker';
    this.#outcomes = new Uint8Array(this.#windowSize);
  }

  /** The state now (an open circuit whose time is up reads `half-open`). */
  get state(): CircuitState {
    if (this.#state === 'open' && this.#clock.now() - this.#openedAt >= this.#openMs)
      this.#transition('half-open');
    return this.#state;
  }

  /** Failure rate of the window, 0 when empty. */
  get failureRate(): number {
    return this.#count === 0 ? 0 : this.#failures / this.#count;
  }

  /** Slow-call rate of the window, 0 when empty. */
  get slowCallRate(): number {
    return this.#count === 0 ? 0 : this.#slow / this.#count;
  }

  /** Listens to state changes; returns a function that stops listening. */
  onStateChange(listener: (change: CircuitStateChange) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Runs `fn` if the circuit lets it, and records its outcome.
   * @throws {@link CircuitOpenError} `HP_ERR_CIRCUIT_OPEN` when refused; `fn`'s error otherwise.
   */
  execute<T>(fn: () => Promise<T>): Promise<T> {
    // Not async, and the clock is read only when needed: the closed-circuit path is the one
    // every healthy call takes (bench/resilience/policies.bench.ts).
    const call = this[enterGate]();
    if (call.refusal !== undefined) return Promise.reject(call.refusal);
    let pending: Promise<T>;
    try {
      pending = fn();
    } catch (error) {
      pending = Promise.reject(error);
    }
    return pending.then(
      (value) => {
        this[leaveGate](call, false, undefined);
        return value;
      },
      (error: unknown) => {
        this[leaveGate](call, true, error);
        throw error;
      },
    );
  }

  /**
   * @internal Admits a call, or refuses it (the ticket's `refusal`). The admitted call's
   * ticket (the state it started in and, with `slowCallMs`, its start time) goes to
   * {@link leaveGate} when it ends.
   */
  [enterGate](): CallTicket {
    let state = this.#state;
    if (state === 'open') {
      state = this.state;
      if (state === 'open') {
        const leftMs = this.#openMs - (this.#clock.now() - this.#openedAt);
        return new CallTicket(state, 0, new CircuitOpenError(leftMs));
      }
    }
    if (state === 'half-open') {
      if (this.#trialsStarted >= this.#halfOpenCalls)
        return new CallTicket(state, 0, new CircuitOpenError(0));
      this.#trialsStarted++;
      return this.#slowMs === Infinity
        ? HALF_OPEN_UNTIMED
        : new CallTicket(state, this.#clock.now());
    }
    return this.#slowMs === Infinity ? CLOSED_UNTIMED : new CallTicket(state, this.#clock.now());
  }

  /** @internal Records the end of a call admitted by {@link enterGate}: `rejected` with `error`, or not. */
  [leaveGate](ticket: CallTicket, rejected: boolean, error: unknown): void {
    const slow = this.#slowMs !== Infinity && this.#clock.now() - ticket.startedAt >= this.#slowMs;
    this.#record(rejected && this.#isFailure(error), slow, ticket.state);
  }

  #record(failed: boolean, slow: boolean, startedIn: CircuitState): void {
    if (startedIn === 'half-open') {
      if (this.#state !== 'half-open') return;
      if (failed || slow) {
        this.#open();
      } else if (++this.#trialsSucceeded >= this.#halfOpenCalls) {
        this.#reset();
        this.#transition('closed');
      }
      return;
    }
    if (this.#state !== 'closed') return;
    if (this.#count === this.#windowSize) {
      const old = this.#outcomes[this.#next]!;
      if (old & 1) this.#failures--;
      if (old & 2) this.#slow--;
    } else {
      this.#count++;
    }
    this.#outcomes[this.#next] = (failed ? 1 : 0) | (slow ? 2 : 0);
    if (failed) this.#failures++;
    if (slow) this.#slow++;
    if (++this.#next === this.#windowSize) this.#next = 0;
    // A fast success lowers both rates or keeps them: the window is judged only after a
    // failed or slow call, or when it first holds minimumCalls (the success path every
    // healthy call takes: bench/resilience/compose.bench.ts).
    if (!failed && !slow && this.#count !== this.#minimumCalls) return;
    if (
      this.#count >= this.#minimumCalls &&
      (this.failureRate >= this.#failureThreshold || this.slowCallRate >= this.#slowThreshold)
    ) {
      this.#open();
    }
  }

  #open(): void {
    this.#openedAt = this.#clock.now();
    this.#transition('open');
  }

  #reset(): void {
    this.#outcomes.fill(0);
    this.#next = 0;
    this.#count = 0;
    this.#failures = 0;
    this.#slow = 0;
  }

  #transition(to: CircuitState): void {
    const from = this.#state;
    if (from === to && to !== 'open') return;
    this.#state = to;
    this.#trialsStarted = 0;
    this.#trialsSucceeded = 0;
    if (this.#listeners.size === 0 && !stateChannel.hasSubscribers) return;
    const change: CircuitStateChange = {
      name: this.#name,
      from,
      to,
      failureRate: this.failureRate,
      slowCallRate: this.slowCallRate,
    };
    if (stateChannel.hasSubscribers) stateChannel.publish(change);
    for (const listener of this.#listeners) listener(change);
  }
}
