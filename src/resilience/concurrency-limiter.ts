import { channel } from 'node:diagnostics_channel';
import { AbortedError, ClosedError, InvalidOptionError } from '../errors/index.js';
import { monotonicClock, type Clock } from '../internal/clock.js';
import { checkNumber } from '../internal/validate-options.js';
import { GradientLimit } from './adaptive-gradient.js';
import type { LimitAlgorithm } from './adaptive-limit.js';
import { ConcurrencyLimitError } from './errors.js';
import { WaitQueue } from './wait-queue.js';

/** Options of {@link ConcurrencyLimiter}. */
export interface ConcurrencyLimiterOptions {
  /** How the limit moves. @defaultValue a new {@link GradientLimit} */
  algorithm?: LimitAlgorithm;
  /** Calls that may wait for a slot; one more is refused at once. @defaultValue 0 */
  maxQueue?: number;
  /** Longest wait in the queue, in ms; then the call is refused. @defaultValue 100 */
  queueTimeoutMs?: number;
  /**
   * Which errors of a call signal overload (the algorithm backs off) rather than a latency.
   * Other errors are not fed to the algorithm. @defaultValue errors with code `HP_ERR_TIMEOUT`
   */
  isDrop?: (error: unknown) => boolean;
  clock?: Clock;
  /** Name in diagnostics messages. @defaultValue `'limiter'` */
  name?: string;
}

/** How a call ended, for the algorithm: a latency, an overload signal, or nothing to learn. */
export type PermitOutcome = 'success' | 'drop' | 'ignore';

/** A slot held by one call; release it exactly once when the call ends. */
export interface ConcurrencyPermit {
  /** Frees the slot and feeds the call's latency (from acquisition) to the algorithm. */
  release(outcome?: PermitOutcome): void;
}

/** Counters and the current limit of a {@link ConcurrencyLimiter}. */
export interface ConcurrencyLimiterStats {
  limit: number;
  inFlight: number;
  queued: number;
  /** Calls admitted since construction. */
  admitted: number;
  /**
   * Calls refused by {@link ConcurrencyLimiter.acquire} and {@link ConcurrencyLimiter.execute}
   * (limit and queue full, or queue timeout) since construction.
   */
  rejected: number;
}

/** Published on `hotpath:resilience:concurrency-limit` when the limit changes. */
export interface ConcurrencyLimitChange {
  name: string;
  from: number;
  to: number;
  inFlight: number;
}

const limitChannel = channel('hotpath:resilience:concurrency-limit');

/** A slot of a {@link ConcurrencyLimiter}, timed from its grant. */
class Permit implements ConcurrencyPermit {
  isReleased = false;
  constructor(
    readonly complete: (start: number, inFlight: number, outcome: PermitOutcome) => void,
    readonly start: number,
    readonly inFlight: number,
  ) {}

  release(outcome: PermitOutcome = 'success'): void {
    if (this.isReleased) return;
    this.isReleased = true;
    this.complete(this.start, this.inFlight, outcome);
  }
}

const isTimeout = (error: unknown): boolean =>
  (error as { code?: unknown } | null)?.code === 'HP_ERR_TIMEOUT';

/**
 * Caps the calls in flight at a limit that adapts to measured latency ({@link GradientLimit}
 * by default): around a dependency (client side, {@link execute}) or in front of a route
 * (server side, {@link tryAcquire} / {@link acquire}, or the Fastify plugin
 * {@link fastifyConcurrencyLimit}). Calls past the limit wait in a short FIFO queue (none by
 * default) or are refused at once with {@link ConcurrencyLimitError}, so a slow dependency
 * costs callers a fast refusal instead of a long wait.
 * @example
 * const limiter = new ConcurrencyLimiter({ maxQueue: 16, queueTimeoutMs: 50 });
 * const charge = await limiter.execute((signal) => gateway.charge(payment, signal));
 */
export class ConcurrencyLimiter {
  readonly #algorithm: LimitAlgorithm;
  readonly #maxQueue: number;
  readonly #queueTimeoutMs: number;
  readonly #isDrop: (error: unknown) => boolean;
  readonly #clock: Clock;
  readonly #name: string;
  readonly #queue = new WaitQueue<ConcurrencyPermit>();
  #inFlight = 0;
  #admitted = 0;
  #rejected = 0;
  #limit: number;
  #isClosed = false;
  readonly #completeBound = (start: number, inFlight: number, outcome: PermitOutcome): void =>
    this.#complete(start, inFlight, outcome);

  /** @throws {@link InvalidOptionError} `HP_ERR_INVALID_OPTION` naming a bad option. */
  constructor(options: ConcurrencyLimiterOptions = {}) {
    const algorithm = options.algorithm ?? new GradientLimit();
    if (typeof algorithm?.update !== 'function' || typeof algorithm.limit !== 'number') {
      throw new InvalidOptionError('algorithm', 'expected a LimitAlgorithm');
    }
    this.#algorithm = algorithm;
    this.#maxQueue = checkNumber('maxQueue', options.maxQueue ?? 0, { min: 0, integer: true });
    this.#queueTimeoutMs = checkNumber('queueTimeoutMs', options.queueTimeoutMs ?? 100, {
      min: 0,
    });
    if (options.isDrop !== undefined && typeof options.isDrop !== 'function') {
      throw new InvalidOptionError('isDrop', 'expected a function');
    }
    this.#isDrop = options.isDrop ?? isTimeout;
    this.#clock = options.clock ?? monotonicClock;
    this.#name = options.name ?? 'limiter';
    this.#limit = algorithm.limit;
  }

  /** Calls allowed in flight now. */
  get limit(): number {
    return this.#limit;
  }

  /** Calls in flight now. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** Calls waiting for a slot. */
  get queued(): number {
    return this.#queue.length;
  }

  stats(): ConcurrencyLimiterStats {
    return {
      limit: this.#limit,
      inFlight: this.#inFlight,
      queued: this.#queue.length,
      admitted: this.#admitted,
      rejected: this.#rejected,
    };
  }

  /**
   * Takes a slot if one is free now, without queueing and without counting a refusal (call
   * {@link acquire} next to queue, or to be refused and counted).
   * @returns the permit, or undefined when the limit is reached or calls are queued.
   */
  tryAcquire(): ConcurrencyPermit | undefined {
    if (this.#inFlight < this.#limit && this.#queue.length === 0 && !this.#isClosed) {
      return this.#grant();
    }
    return undefined;
  }

  /**
   * Takes a slot, waiting in the queue up to `queueTimeoutMs` when none is free.
   * @throws {@link ConcurrencyLimitError} `HP_ERR_CONCURRENCY_LIMIT` when the limit and the
   * queue are full, or the wait timed out.
   * @throws {@link AbortedError} `HP_ERR_ABORTED` when `signal` aborts while queued.
   * @throws {@link ClosedError} `HP_ERR_CLOSED` after {@link close}.
   */
  acquire(signal?: AbortSignal): Promise<ConcurrencyPermit> {
    if (this.#isClosed) return Promise.reject(new ClosedError('concurrency limiter'));
    if (signal?.aborted) {
      return Promise.reject(new AbortedError(undefined, { cause: signal.reason }));
    }
    if (this.#inFlight < this.#limit && this.#queue.length === 0) {
      return Promise.resolve(this.#grant());
    }
    if (this.#queue.length >= this.#maxQueue || this.#queueTimeoutMs === 0) {
      this.#rejected++;
      return Promise.reject(this.#error(false));
    }
    return this.#queue.wait(signal, this.#queueTimeoutMs, () => {
      this.#rejected++;
      return this.#error(true);
    });
  }

  /**
   * Runs `fn` in a slot and feeds its latency to the algorithm (an `isDrop` error as a drop).
   * @throws {@link ConcurrencyLimitError} `HP_ERR_CONCURRENCY_LIMIT` when refused.
   * @throws {@link AbortedError} `HP_ERR_ABORTED` when `signal` aborts while queued.
   */
  execute<T>(fn: (signal?: AbortSignal) => Promise<T>, signal?: AbortSignal): Promise<T> {
    if (this.#inFlight < this.#limit && this.#queue.length === 0 && !this.#isClosed) {
      if (signal?.aborted) {
        return Promise.reject(new AbortedError(undefined, { cause: signal.reason }));
      }
      // Fast path: no permit object and no promise for the slot itself, one promise hop in
      // all (bench/resilience/adaptive.bench.ts).
      const inFlight = ++this.#inFlight;
      this.#admitted++;
      return this.#run(this.#clock.now(), inFlight, fn, signal);
    }
    return this.acquire(signal).then((permit) => {
      const { start, inFlight } = permit as Permit;
      // The queued call runs in the permit's slot, timed from now.
      (permit as Permit).isReleased = true;
      return this.#run(start, inFlight, fn, signal);
    });
  }

  /** Refuses new calls and fails queued ones with {@link ClosedError}; calls in flight go on. */
  async close(): Promise<void> {
    if (this.#isClosed) return;
    this.#isClosed = true;
    this.#queue.rejectAll(() => new ClosedError('concurrency limiter'));
  }

  #run<T>(
    start: number,
    inFlight: number,
    fn: (signal?: AbortSignal) => Promise<T>,
    signal: AbortSignal | undefined,
  ): Promise<T> {
    let pending: Promise<T>;
    try {
      pending = fn(signal);
    } catch (error) {
      pending = Promise.reject(error);
    }
    return pending.then(
      (value) => {
        this.#complete(start, inFlight, 'success');
        return value;
      },
      (error: unknown) => {
        this.#complete(start, inFlight, this.#isDrop(error) ? 'drop' : 'ignore');
        throw error;
      },
    );
  }

  #grant(): Permit {
    const inFlight = ++this.#inFlight;
    this.#admitted++;
    return new Permit(this.#completeBound, this.#clock.now(), inFlight);
  }

  /** Frees a slot, feeds the call to the algorithm and starts queued calls. */
  #complete(start: number, inFlight: number, outcome: PermitOutcome): void {
    this.#inFlight--;
    if (outcome !== 'ignore') {
      const now = this.#clock.now();
      this.#algorithm.update({
        nowMs: now,
        rttMs: now - start,
        inFlight,
        didDrop: outcome === 'drop',
      });
      if (this.#algorithm.limit !== this.#limit) this.#readLimit();
    }
    if (this.#queue.length > 0) this.#drain();
  }

  #readLimit(): void {
    const limit = this.#algorithm.limit;
    const from = this.#limit;
    this.#limit = limit;
    if (limitChannel.hasSubscribers) {
      limitChannel.publish({
        name: this.#name,
        from,
        to: limit,
        inFlight: this.#inFlight,
      } satisfies ConcurrencyLimitChange);
    }
  }

  #drain(): void {
    while (this.#queue.length > 0 && this.#inFlight < this.#limit && !this.#isClosed) {
      this.#queue.admitNext(this.#grant());
    }
  }

  #error(didWait: boolean): ConcurrencyLimitError {
    return new ConcurrencyLimitError(this.#limit, this.#inFlight, didWait);
  }
}
