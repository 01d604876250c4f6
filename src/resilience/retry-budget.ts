import { monotonicClock, type Clock } from '../internal/clock.js';
import { checkNumber } from '../internal/validate-options.js';

/** Options of {@link RetryBudget}. */
export interface RetryBudgetOptions {
  /**
   * Retries allowed per call made over the window, >= 0: 0.1 lets retries add at most 10% to
   * the load a dependency sees. Default 0.1.
   */
  retryRatio?: number;
  /**
   * Retries allowed per second of window whatever the traffic, so a quiet service still
   * retries: the window holds `minRetriesPerSecond * windowMs / 1000` of them. Default 10.
   */
  minRetriesPerSecond?: number;
  /** How far back calls and retries count, in milliseconds. Default 10,000. */
  windowMs?: number;
  clock?: Clock;
}

/** What a {@link RetryBudget} holds now, and its refusals since it was made. */
export interface RetryBudgetStats {
  /** Calls recorded in the window. */
  calls: number;
  /** Retries granted in the window. */
  retries: number;
  /** Retries the budget would grant now. */
  available: number;
  /** Retries refused since the budget was made. */
  refused: number;
}

// The window is this many slots; a call or retry leaves it between 0.9 and 1 window later.
const SLOTS = 10;
// recordCall reads the clock once per this many calls.
const CLOCK_EVERY = 16;

/**
 * A retry budget (Finagle's `RetryBudget`, gRPC's retry throttling): retries may be at most
 * `retryRatio` of the calls made over the last `windowMs`, plus a reserve of
 * `minRetriesPerSecond` per second of window. When a dependency fails outright, every caller
 * retrying every call would multiply its load by `retries + 1`; under a budget the extra load
 * stays under `retryRatio` (plus the reserve), and retries come back as the window slides on
 * over healthy calls. Share one budget between all the retries against one dependency.
 *
 * ```
 *   window (10 slots, sliding)      available = min/s * window s + ratio * calls - retries
 *   [c r][c  ][c r][c  ]...[c  ]    e.g. 10/s * 10 s + 0.1 * 5,000 calls - 560 retries = 40
 * ```
 * @example
 * const budget = new RetryBudget({ retryRatio: 0.1, minRetriesPerSecond: 10 });
 * const retry = new Retry({ retries: 3, budget });
 */
export class RetryBudget {
  readonly #ratio: number;
  readonly #reserve: number;
  readonly #slotMs: number;
  readonly #clock: Clock;
  readonly #calls = new Float64Array(SLOTS);
  readonly #retries = new Float64Array(SLOTS);
  /** Slot number (time / slotMs) of the newest slot, at the last clock read. */
  #slot: number;
  /** Its index in the ring. */
  #index: number;
  #sinceClockRead = 0;
  #callsInWindow = 0;
  #retriesInWindow = 0;
  #refused = 0;

  /** @throws {@link InvalidOptionError} `HP_ERR_INVALID_OPTION` naming a bad option. */
  constructor(options: RetryBudgetOptions = {}) {
    this.#ratio = checkNumber('retryRatio', options.retryRatio ?? 0.1, { min: 0 });
    const perSecond = checkNumber('minRetriesPerSecond', options.minRetriesPerSecond ?? 10, {
      min: 0,
    });
    const windowMs = checkNumber('windowMs', options.windowMs ?? 10_000, { min: SLOTS });
    this.#reserve = (perSecond * windowMs) / 1000;
    this.#slotMs = windowMs / SLOTS;
    this.#clock = options.clock ?? monotonicClock;
    this.#slot = Math.floor(this.#clock.now() / this.#slotMs);
    this.#index = ((this.#slot % SLOTS) + SLOTS) % SLOTS;
  }

  /** Records a call (its first attempt): each adds `retryRatio` to the budget. */
  recordCall(): void {
    // The clock is read every CLOCK_EVERY calls, not each: a read costs about what a bare
    // await does (bench/resilience/compose.bench.ts). Calls in between count in the slot of
    // the last read, so they may leave the window early, never late: the budget errs on the
    // side of fewer retries.
    if (++this.#sinceClockRead >= CLOCK_EVERY) {
      this.#sinceClockRead = 0;
      this.#index = this.#advance();
    }
    this.#calls[this.#index]!++;
    this.#callsInWindow++;
  }

  /** Takes one retry from the budget; false (and counted as refused) when none is left. */
  tryRetry(): boolean {
    const index = (this.#index = this.#advance());
    if (this.#available() < 1) {
      this.#refused++;
      return false;
    }
    this.#retries[index]!++;
    this.#retriesInWindow++;
    return true;
  }

  /** Retries the budget would grant now. */
  get available(): number {
    this.#index = this.#advance();
    return Math.max(0, Math.floor(this.#available()));
  }

  /** The window's calls and retries and the refusals so far, for dashboards. */
  get stats(): RetryBudgetStats {
    const available = this.available;
    return {
      calls: this.#callsInWindow,
      retries: this.#retriesInWindow,
      available,
      refused: this.#refused,
    };
  }

  #available(): number {
    return this.#reserve + this.#ratio * this.#callsInWindow - this.#retriesInWindow;
  }

  /** Moves the window to now, emptying the slots it slid past; returns the newest slot's index. */
  #advance(): number {
    const slot = Math.floor(this.#clock.now() / this.#slotMs);
    // A clock that went back leaves the window where it is.
    if (slot > this.#slot) {
      const passed = Math.min(slot - this.#slot, SLOTS);
      for (let i = 1; i <= passed; i++) {
        const index = (((this.#slot + i) % SLOTS) + SLOTS) % SLOTS;
        this.#callsInWindow -= this.#calls[index]!;
        this.#retriesInWindow -= this.#retries[index]!;
        this.#calls[index] = 0;
        this.#retries[index] = 0;
      }
      this.#slot = slot;
    }
    return ((this.#slot % SLOTS) + SLOTS) % SLOTS;
  }
}
