import { channel } from 'node:diagnostics_channel';
import { AbortedError } from '../errors/index.js';
import { monotonicClock, type Clock } from '../internal/clock.js';
import { checkNumber } from '../internal/validate-options.js';
import { DeadlineQueue } from './deadline.js';
import { DeadlineCall } from './deadline-call.js';
import { TimeoutError } from './errors.js';
import {
  abortedError,
  contextFor,
  invoke,
  proceed,
  runInContext,
  type CallContext,
  AttemptContext,
  type ContextualPolicy,
  type Fusion,
  type PolicyContext,
  type Runner,
} from './policy.js';

/**
 * Runs `fn` with a signal that aborts after `timeoutMs` (or when `signal` aborts) and rejects
 * at that moment, whether or not `fn` honours the signal. It makes an AbortController and a
 * timer per call, which costs about 70 bare awaits (bench/resilience/compose.bench.ts): on a
 * hot path use a {@link Timeout}, which makes neither unless `fn` reads its signal.
 * @throws {@link TimeoutError} `HP_ERR_TIMEOUT` when the time runs out.
 * @throws {@link AbortedError} `HP_ERR_ABORTED` when `signal` aborts first.
 * @example
 * const body = await withTimeout((signal) => fetch(url, { signal }), 500);
 */
export function withTimeout<T>(
  fn: (signal: AbortSignal) => Promise<T>,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<T> {
  checkNumber('timeoutMs', timeoutMs, { min: 0 });
  if (signal?.aborted) return Promise.reject(new AbortedError(undefined, { cause: signal.reason }));
  const controller = new AbortController();
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      controller.abort(signal?.reason);
      finish(() => reject(new AbortedError(undefined, { cause: signal?.reason })));
    };
    const timer = setTimeout(() => {
      const error = new TimeoutError(timeoutMs);
      controller.abort(error);
      finish(() => reject(error));
    }, timeoutMs);
    let done = false;
    const finish = (settle: () => void) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      settle();
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    invoke(fn, controller.signal).then(
      (value) => finish(() => resolve(value)),
      (error: unknown) => finish(() => reject(error)),
    );
  });
}

/** Options of {@link Timeout}. */
export interface TimeoutOptions {
  /** Time limit of one call, in milliseconds. */
  timeoutMs: number;
  /** Clock the deadlines are read on; inject one with mocked timers in tests. */
  clock?: Clock;
  /** Name in diagnostics messages. Default `timeout`. */
  name?: string;
}

/** Counters of a {@link Timeout}, since it was made. */
export interface TimeoutStats {
  /** Calls started. */
  calls: number;
  /** Calls rejected with {@link TimeoutError}. */
  timeouts: number;
}

/** A timeout, published on `hotpath:resilience:timeout` when it has subscribers. */
export interface TimeoutEvent {
  name: string;
  timeoutMs: number;
  attempt: number;
}

const timeoutChannel = channel('hotpath:resilience:timeout');

/** The method of {@link Timeout} a Retry fuses with (not exported from the module). */
export const runRecovering: unique symbol = Symbol('hotpath.resilience.runRecovering');

/** What a Timeout's calls share. */
class TimeoutCore {
  calls = 0;
  timeouts = 0;
  readonly timeoutMs: number;
  readonly name: string;
  readonly queue: DeadlineQueue;

  constructor(timeoutMs: number, name: string, clock: Clock) {
    this.timeoutMs = timeoutMs;
    this.name = name;
    this.queue = new DeadlineQueue(timeoutMs, clock);
  }
}

/** One call under a Timeout: its context, its deadline in the queue, its promise. */
class TimeoutCall<T> extends DeadlineCall<T> {
  readonly #core: TimeoutCore;

  constructor(core: TimeoutCore, parent: CallContext) {
    super(core.queue, parent, parent.attempt);
    this.#core = core;
  }

  start(fn: (context: CallContext) => Promise<T>, next: Runner | undefined): Promise<T> {
    const promise = this.begin();
    void proceed(fn, this, next).then(
      (value) => {
        if (this.finish()) this.end(false, value);
      },
      (error: unknown) => {
        if (this.finish()) this.fail(error);
      },
    );
    return promise;
  }

  expire(): void {
    const core = this.#core;
    core.timeouts++;
    const error = new TimeoutError(core.timeoutMs);
    this.stop(error);
    if (timeoutChannel.hasSubscribers) {
      const event: TimeoutEvent = {
        name: core.name,
        timeoutMs: core.timeoutMs,
        attempt: this.attempt,
      };
      timeoutChannel.publish(event);
    }
    this.fail(error);
  }

  protected onAbort(reason: unknown): void {
    if (!this.finish()) return;
    const error = new AbortedError(undefined, { cause: reason });
    this.stop(error);
    // The caller gave up: no retry, whatever is fused around.
    this.end(true, error);
  }

  /** fn failed or the time ran out. */
  protected fail(error: unknown): void {
    this.end(true, error);
  }

  /** Settles the call with `outcome`: the value, or the error when `rejected`. */
  protected end(rejected: boolean, outcome: unknown): void {
    if (rejected) this.rejectWith(outcome);
    else this.resolveWith(outcome as T);
  }
}

/**
 * A call under a Timeout fused with the Retry right around it (its failures go to the retry's
 * `recovery`, whose promise the call then follows) and maybe with a wrap's gate around that
 * (told of the call's end before the caller is).
 */
class RecoveringCall<T> extends TimeoutCall<T> {
  // Assigned, not class fields: see CallContext.
  declare fusion: Fusion | undefined;
  declare fn: ((context: CallContext) => Promise<T>) | undefined;
  declare ticket: unknown;

  constructor(
    core: TimeoutCore,
    context: CallContext,
    fn: (context: CallContext) => Promise<T>,
    fusion: Fusion,
    ticket: unknown,
  ) {
    super(core, context);
    this.fusion = fusion;
    this.fn = fn;
    this.ticket = ticket;
  }

  protected override fail(error: unknown): void {
    const { recovery, gate } = this.fusion!;
    // The retry's own context: the one this first attempt ran in, or the call it is the
    // first attempt of when the retry had to number it (see Retry's runWithTimeout).
    const context = this.parent;
    const retryParent =
      context instanceof AttemptContext && context.attempt === 0 ? context.base : context;
    let recovered = recovery.recover(this.fn!, retryParent, error);
    if (gate !== undefined) {
      const ticket = this.ticket;
      recovered = recovered.then(
        (value) => {
          gate.end(ticket, false, undefined);
          return value;
        },
        (final: unknown) => {
          gate.end(ticket, true, final);
          throw final;
        },
      );
    }
    this.resolveWith(recovered);
  }

  protected override end(rejected: boolean, outcome: unknown): void {
    const gate = this.fusion?.gate;
    if (gate !== undefined) {
      try {
        gate.end(this.ticket, rejected, rejected ? outcome : undefined);
      } catch (error) {
        // A breaker's state listener threw: the call rejects with it, as nested it would.
        super.end(true, error);
        return;
      }
    }
    super.end(rejected, outcome);
  }

  protected override forget(): void {
    super.forget();
    this.fusion = undefined;
    this.fn = undefined;
    this.ticket = undefined;
  }
}

/**
 * A cooperative timeout as a policy: `fn` gets a `context.signal` that aborts after
 * `timeoutMs` (or when the caller's signal aborts), and the call rejects at that moment with
 * {@link TimeoutError} whether or not `fn` honours the signal. Built for the success path:
 * the AbortController is made only when `fn` reads `context.signal`, and the calls share one
 * timer ({@link DeadlineQueue}) instead of a setTimeout each, so no timer is left armed and
 * holding the process once the calls have settled.
 * @example
 * const timeout = new Timeout({ timeoutMs: 2000 });
 * const body = await timeout.execute(({ signal }) => fetch(url, { signal }));
 */
export class Timeout implements ContextualPolicy {
  readonly #core: TimeoutCore;

  /** @throws {@link InvalidOptionError} `HP_ERR_INVALID_OPTION` naming a bad option. */
  constructor(options: TimeoutOptions) {
    const timeoutMs = checkNumber('timeoutMs', options.timeoutMs, { min: 0, max: 2 ** 31 - 1 });
    this.#core = new TimeoutCore(
      timeoutMs,
      options.name ?? 'timeout',
      options.clock ?? monotonicClock,
    );
  }

  /** The time limit of one call, in milliseconds. */
  get timeoutMs(): number {
    return this.#core.timeoutMs;
  }

  /** Calls started and calls timed out, for dashboards. */
  get stats(): TimeoutStats {
    return { calls: this.#core.calls, timeouts: this.#core.timeouts };
  }

  /**
   * Runs `fn`, rejecting when `timeoutMs` passes first.
   * @throws {@link TimeoutError} `HP_ERR_TIMEOUT` when the time runs out.
   * @throws {@link AbortedError} `HP_ERR_ABORTED` when `signal` aborts first.
   */
  execute<T>(fn: (context: PolicyContext) => Promise<T>, signal?: AbortSignal): Promise<T> {
    return this[runInContext](fn, contextFor(signal), undefined);
  }

  /** @internal */
  [runInContext]<T>(
    fn: (context: CallContext) => Promise<T>,
    parent: CallContext,
    next: Runner | undefined,
  ): Promise<T> {
    if (parent.stopped) return Promise.reject(abortedError(parent.caller));
    this.#core.calls++;
    return new TimeoutCall<T>(this.#core, parent).start(fn, next);
  }

  /**
   * @internal Like {@link runInContext}, but a failure (fn's error or the timeout) goes to
   * `fusion.recovery` (a Retry right around this timeout), whose promise the call then follows,
   * and the call's end goes to `fusion.gate` (a wrap's bulkhead and breaker around) before
   * the caller sees it: the first attempt's success path then has one promise and one
   * reaction for all four policies (bench/resilience/compose.bench.ts).
   */
  [runRecovering]<T>(
    fn: (context: CallContext) => Promise<T>,
    context: CallContext,
    next: Runner | undefined,
    fusion: Fusion,
    ticket: unknown,
  ): Promise<T> {
    this.#core.calls++;
    return new RecoveringCall(this.#core, context, fn, fusion, ticket).start(fn, next);
  }
}
