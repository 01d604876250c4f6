import { AbortedError } from '../errors/index.js';
import { checkNumber } from '../internal/validate-options.js';
import { BulkheadFullError } from './errors.js';
import { enterGate, leaveGate } from './policy.js';
import { WaitQueue } from './wait-queue.js';

/** Options of {@link Bulkhead}. */
export interface BulkheadOptions {
  /** Calls running at once. */
  maxConcurrent: number;
  /** Calls waiting for a slot; one more is refused at once. Default 0. */
  maxQueue?: number;
}

/**
 * Caps the calls running at once against one dependency, so a slow dependency holds a bounded
 * share of the process (its sockets, memory, event-loop time) instead of all of it. Calls past
 * the cap wait in a bounded FIFO queue; past the queue they fail fast.
 * @example
 * const bulkhead = new Bulkhead({ maxConcurrent: 32, maxQueue: 64 });
 * await bulkhead.execute((signal) => gateway.charge(payment, signal));
 */
export class Bulkhead {
  readonly #maxConcurrent: number;
  readonly #maxQueue: number;
  readonly #queue = new WaitQueue<void>();
  #running = 0;

  /** @throws {@link InvalidOptionError} `HP_ERR_INVALID_OPTION` naming a bad option. */
  constructor(options: BulkheadOptions) {
    this.#maxConcurrent = checkNumber('maxConcurrent', options.maxConcurrent, {
      min: 1,
      integer: true,
    });
    this.#maxQueue = checkNumber('maxQueue', options.maxQueue ?? 0, { min: 0, integer: true });
  }

  /** Calls running now. */
  get running(): number {
    return this.#running;
  }

  /** Calls waiting for a slot. */
  get queued(): number {
    return this.#queue.length;
  }

  /**
   * Runs `fn` when a slot is free.
   * @throws {@link BulkheadFullError} `HP_ERR_BULKHEAD_FULL` when slots and queue are full.
   * @throws {@link AbortedError} `HP_ERR_ABORTED` when `signal` aborts while queued.
   */
  execute<T>(fn: (signal?: AbortSignal) => Promise<T>, signal?: AbortSignal): Promise<T> {
    if (signal?.aborted)
      return Promise.reject(new AbortedError(undefined, { cause: signal.reason }));
    if (this.#running < this.#maxConcurrent) {
      // Fast path, no queue: not async and no finally(), one promise hop fewer per call
      // (bench/resilience/policies.bench.ts).
      this.#running++;
      return this.#run(fn, signal);
    }
    if (this.#queue.length >= this.#maxQueue) {
      return Promise.reject(new BulkheadFullError(this.#maxConcurrent, this.#maxQueue));
    }
    return this.#queue.wait(signal).then(() => this.#run(fn, signal));
  }

  /**
   * @internal Takes a slot if one is free now, as `execute`'s fast path does; false when the
   * call would queue or be refused (the caller then goes through `execute`).
   */
  [enterGate](): boolean {
    if (this.#running >= this.#maxConcurrent) return false;
    this.#running++;
    return true;
  }

  /** @internal Gives back a slot taken with {@link enterGate}, as a call's end does. */
  [leaveGate](): void {
    this.#release();
  }

  #run<T>(fn: (signal?: AbortSignal) => Promise<T>, signal: AbortSignal | undefined): Promise<T> {
    let pending: Promise<T>;
    try {
      pending = fn(signal);
    } catch (error) {
      pending = Promise.reject(error);
    }
    return pending.then(
      (value) => {
        this.#release();
        return value;
      },
      (error: unknown) => {
        this.#release();
        throw error;
      },
    );
  }

  #release(): void {
    // The slot passes straight to the next waiter, so `running` never dips below the cap
    // while work is queued.
    if (!this.#queue.admitNext(undefined)) this.#running--;
  }
}
