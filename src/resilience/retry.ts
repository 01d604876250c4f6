import { channel } from 'node:diagnostics_channel';
import { AbortedError, InvalidOptionError } from '../errors/index.js';
import { monotonicClock, type Clock } from '../internal/clock.js';
import { checkNumber } from '../internal/validate-options.js';
import { DeadlineQueue } from './deadline.js';
import { DeadlineCall } from './deadline-call.js';
import { DeadlineExceededError } from './errors.js';
import {
  abortedError,
  AttemptContext,
  contextFor,
  proceed,
  runInContext,
  type StoppableContext,
  type CallContext,
  type ContextualPolicy,
  type Fusion,
  type Recovery,
  type PolicyContext,
  type Runner,
} from './policy.js';
import { RetryBudget } from './retry-budget.js';
import { runRecovering, type Timeout } from './timeout.js';

/** The methods of {@link Retry} that fuse it with the Timeout below it (not exported). */
export const runWithTimeout: unique symbol = Symbol('hotpath.resilience.runWithTimeout');
export const recoveryFor: unique symbol = Symbol('hotpath.resilience.recoveryFor');
export const fusesGate: unique symbol = Symbol('hotpath.resilience.fusesGate');

/** Options of {@link Retry} and {@link retry}. */
export interface RetryOptions {
  /** Retries after the first attempt. Default 2. */
  retries?: number;
  /** Backoff base: the wait after failed attempt n (0-based) is up to `baseMs * 2^n`. Default 50 ms. */
  baseMs?: number;
  /** Longest wait between attempts. Default 5,000 ms. */
  maxMs?: number;
  /**
   * `full` (default): wait uniform in [0, backoff), which spreads retries of many callers best
   * (AWS Architecture Blog, "Exponential Backoff and Jitter"); `none`: wait exactly the backoff.
   */
  jitter?: 'full' | 'none';
  /** Whether an error is worth another attempt. Default: every error. */
  shouldRetry?: (error: unknown, attempt: number) => boolean;
  /** Random source in [0, 1), injectable for tests. */
  random?: () => number;
  /** Called before each retry with the attempt number (1-based) and the wait. */
  onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
  /**
   * A budget shared by the retries against one dependency: when it refuses a retry, the
   * last error is thrown at once (and counted in `stats.budgetExhausted`). Default: none.
   */
  budget?: RetryBudget;
  /**
   * Overall deadline of a call in milliseconds, across its attempts and the waits between
   * them, from the start of `execute`: no attempt starts after it, a wait that would end past
   * it is not taken, and the attempt running at the deadline is cut (its `context.signal`
   * aborts) with {@link DeadlineExceededError}. Default: none.
   */
  deadlineMs?: number;
  /** Clock the deadline is read on; inject one with mocked timers in tests. */
  clock?: Clock;
  /** Name in diagnostics messages. Default `retry`. */
  name?: string;
}

/** Counters of a {@link Retry}, since it was made. */
export interface RetryStats {
  /** Calls started. */
  calls: number;
  /** Attempts after the first, over all calls. */
  retries: number;
  /** Calls that failed on their last allowed attempt. */
  retriesExhausted: number;
  /** Calls that failed because the budget refused a retry. */
  budgetExhausted: number;
  /** Calls ended by the deadline ({@link DeadlineExceededError}). */
  deadlineExceeded: number;
}

/** Published on `hotpath:resilience:retry` when it has subscribers. */
export interface RetryEvent {
  name: string;
  /**
   * `retry`: attempt `attempt` follows after `delayMs`; `budget-exhausted`: the budget refused
   * it and the last error was thrown; `deadline-exceeded`: the deadline ended the call.
   */
  type: 'retry' | 'budget-exhausted' | 'deadline-exceeded';
  attempt: number;
  delayMs: number;
  /** The last attempt's error (undefined when the deadline cut the first attempt). */
  error: unknown;
}

const retryChannel = channel('hotpath:resilience:retry');

/** A Retry's settings and counters, shared by its calls. */
class RetryCore {
  calls = 0;
  retries = 0;
  retriesExhausted = 0;
  budgetExhausted = 0;
  deadlineExceeded = 0;
  readonly maxRetries: number;
  readonly baseMs: number;
  readonly maxMs: number;
  readonly isFullJitter: boolean;
  readonly shouldRetry: ((error: unknown, attempt: number) => boolean) | undefined;
  readonly random: () => number;
  readonly onRetry: ((error: unknown, attempt: number, delayMs: number) => void) | undefined;
  readonly budget: RetryBudget | undefined;
  readonly deadlineMs: number;
  readonly deadlines: DeadlineQueue | undefined;
  readonly clock: Clock;
  readonly name: string;

  constructor(options: RetryOptions) {
    this.maxRetries = checkNumber('retries', options.retries ?? 2, { min: 0, integer: true });
    this.baseMs = checkNumber('baseMs', options.baseMs ?? 50, { min: 0 });
    this.maxMs = checkNumber('maxMs', options.maxMs ?? 5000, { min: 0 });
    const jitter = options.jitter ?? 'full';
    if (jitter !== 'full' && jitter !== 'none')
      throw new InvalidOptionError('jitter', `expected "full" or "none", got ${String(jitter)}`);
    this.isFullJitter = jitter === 'full';
    if (options.budget !== undefined && !(options.budget instanceof RetryBudget))
      throw new InvalidOptionError('budget', 'expected a RetryBudget');
    this.budget = options.budget;
    this.shouldRetry = options.shouldRetry;
    this.random = options.random ?? Math.random;
    this.onRetry = options.onRetry;
    this.clock = options.clock ?? monotonicClock;
    this.name = options.name ?? 'retry';
    if (options.deadlineMs === undefined) {
      this.deadlineMs = Infinity;
      this.deadlines = undefined;
    } else {
      this.deadlineMs = checkNumber('deadlineMs', options.deadlineMs, { min: 1, max: 2 ** 31 - 1 });
      this.deadlines = new DeadlineQueue(this.deadlineMs, this.clock);
    }
  }

  /**
   * The wait before retrying after failed attempt `attempt` (0-based), or throws what ends the
   * call: the error itself, or a DeadlineExceededError when the wait would reach the deadline
   * of `call` (given when a deadline runs).
   */
  decide(
    error: unknown,
    attempt: number,
    parent: CallContext,
    call: StoppableContext | undefined,
  ): number {
    if (attempt >= this.maxRetries) {
      this.retriesExhausted++;
      throw error;
    }
    if (parent.stopped) throw error;
    if (this.shouldRetry !== undefined && !this.shouldRetry(error, attempt)) throw error;
    const backoff = Math.min(this.maxMs, this.baseMs * 2 ** attempt);
    const delayMs = this.isFullJitter ? this.random() * backoff : backoff;
    // Checked before the budget: a retry that cannot start in time must not spend it.
    if (call !== undefined && delayMs >= this.deadlines!.timeLeftMs(call))
      throw this.deadlineError(error, true, attempt + 1, delayMs);
    if (this.budget !== undefined && !this.budget.tryRetry()) {
      this.budgetExhausted++;
      this.#publish('budget-exhausted', attempt + 1, delayMs, error);
      throw error;
    }
    this.onRetry?.(error, attempt + 1, delayMs);
    this.#publish('retry', attempt + 1, delayMs, error);
    return delayMs;
  }

  deadlineError(
    cause: unknown,
    hasCause: boolean,
    attempt: number,
    delayMs: number,
  ): DeadlineExceededError {
    this.deadlineExceeded++;
    this.#publish('deadline-exceeded', attempt, delayMs, cause);
    return new DeadlineExceededError(this.deadlineMs, hasCause ? { cause } : undefined);
  }

  /** The attempts after a first one failed, when no deadline runs. */
  async retryAfter<T>(
    fn: (context: CallContext) => Promise<T>,
    parent: CallContext,
    next: Runner | undefined,
    error: unknown,
  ): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const delayMs = this.decide(error, attempt - 1, parent, undefined);
      await sleep(delayMs, parent.caller);
      if (parent.stopped) throw error;
      this.retries++;
      try {
        return await proceed(fn, new AttemptContext(parent, attempt), next);
      } catch (attemptError) {
        error = attemptError;
      }
    }
  }

  #publish(type: RetryEvent['type'], attempt: number, delayMs: number, error: unknown): void {
    if (!retryChannel.hasSubscribers) return;
    const event: RetryEvent = { name: this.name, type, attempt, delayMs, error };
    retryChannel.publish(event);
  }
}

/**
 * A call under a Retry with a deadline: the context of its first attempt (later ones get an
 * AttemptContext on it), its entry in the deadline queue, its promise.
 */
class RetryCall<T> extends DeadlineCall<T> {
  readonly #core: RetryCore;
  #fn: (context: CallContext) => Promise<T>;
  readonly #next: Runner | undefined;
  #attempt = 0;
  #lastError: unknown = undefined;
  #hasFailed = false;
  #sleep: ReturnType<typeof setTimeout> | undefined = undefined;

  constructor(
    core: RetryCore,
    fn: (context: CallContext) => Promise<T>,
    parent: CallContext,
    next: Runner | undefined,
  ) {
    super(core.deadlines!, parent, 0);
    this.#core = core;
    this.#fn = fn;
    this.#next = next;
  }

  start(): Promise<T> {
    const promise = this.begin();
    this.#run(this);
    return promise;
  }

  expire(): void {
    clearTimeout(this.#sleep);
    const error = this.#core.deadlineError(this.#lastError, this.#hasFailed, this.#attempt, 0);
    this.stop(error);
    this.rejectWith(error);
  }

  protected onAbort(reason: unknown): void {
    if (!this.finish()) return;
    const error = new AbortedError(undefined, { cause: reason });
    this.stop(error);
    this.rejectWith(error);
  }

  #run(context: CallContext): void {
    void proceed(this.#fn, context, this.#next).then(
      (value) => {
        if (this.finish()) this.resolveWith(value);
      },
      (error: unknown) => this.#failed(error),
    );
  }

  #failed(error: unknown): void {
    if (this.settled) return;
    this.#lastError = error;
    this.#hasFailed = true;
    let delayMs: number;
    try {
      delayMs = this.#core.decide(error, this.#attempt, this.parent, this);
    } catch (final) {
      if (!this.finish()) return;
      if (final instanceof DeadlineExceededError) this.stop(final);
      this.rejectWith(final);
      return;
    }
    this.#sleep = setTimeout(() => {
      this.#sleep = undefined;
      if (this.settled) return;
      if (this.parent.stopped) {
        this.finish();
        this.rejectWith(error);
        return;
      }
      this.#core.retries++;
      this.#attempt++;
      this.#run(new AttemptContext(this, this.#attempt));
    }, delayMs);
  }

  protected override finish(): boolean {
    if (!super.finish()) return false;
    clearTimeout(this.#sleep);
    return true;
  }

  // A settled call may wait in the deadline queue until the head gets past it: it lets go of
  // its function and its last error too.
  protected override forget(): void {
    super.forget();
    this.#fn = rejectLate;
    this.#lastError = undefined;
  }
}

function rejectLate(): Promise<never> {
  return Promise.reject(new Error('a settled retry ran again'));
}

/**
 * Retries as a policy: calls `fn` until it resolves, at most `retries + 1` times, waiting an
 * exponential backoff with full jitter between attempts, within an optional retry budget
 * (shared, so retries cannot multiply an outage) and an optional overall deadline. Rethrows
 * the last error, or one `shouldRetry` refused. The first attempt's success path allocates
 * nothing for the retries; `fn`'s `context.attempt` says which attempt runs.
 * @throws {@link DeadlineExceededError} `HP_ERR_DEADLINE_EXCEEDED` when `deadlineMs` passes.
 * @throws {@link AbortedError} `HP_ERR_ABORTED` when `signal` aborts before or between
 *   attempts (during one, with `deadlineMs` set; without, the attempt's own error).
 * @example
 * const budget = new RetryBudget({ retryRatio: 0.1 });
 * const retry = new Retry({ retries: 3, budget, deadlineMs: 5000, shouldRetry: isTransient });
 * const user = await retry.execute(({ signal }) => api.getUser(id, { signal }));
 */
export class Retry implements ContextualPolicy {
  readonly #core: RetryCore;

  /** @throws {@link InvalidOptionError} `HP_ERR_INVALID_OPTION` naming a bad option. */
  constructor(options: RetryOptions = {}) {
    this.#core = new RetryCore(options);
  }

  /** Calls, retries and why calls gave up, for dashboards. */
  get stats(): RetryStats {
    const core = this.#core;
    return {
      calls: core.calls,
      retries: core.retries,
      retriesExhausted: core.retriesExhausted,
      budgetExhausted: core.budgetExhausted,
      deadlineExceeded: core.deadlineExceeded,
    };
  }

  /** Runs `fn` with retries. */
  execute<T>(fn: (context: PolicyContext) => Promise<T>, signal?: AbortSignal): Promise<T> {
    return this[runInContext](fn, contextFor(signal), undefined);
  }

  /**
   * @internal The retries of a call whose first attempt ran through the Timeout right below
   * this retry in a wrap (`timeoutRunner` runs that timeout and what is below it), made once
   * per wrap: a failed first attempt hands its error to it.
   */
  [recoveryFor](timeoutRunner: Runner): Recovery {
    const core = this.#core;
    return {
      recover: (fn, parent, error) => core.retryAfter(fn, parent, timeoutRunner, error),
    };
  }

  /**
   * @internal Runs the call through `timeout`, the layer right below this retry in a wrap
   * (`timeoutRunner` runs it, `below` runs what is below it, `fusion.recovery` is
   * {@link recoveryFor}'s): the timeout's failure handler starts the retries, so the first
   * attempt's success path has one promise reaction for both policies instead of one each,
   * and `fusion.gate` (a wrap's bulkhead and breaker around) hears of the end from the timeout
   * too (bench/resilience/compose.bench.ts). With a deadline, no fusion: a gate must not be
   * given then.
   */
  [runWithTimeout]<T>(
    timeout: Timeout,
    fn: (context: CallContext) => Promise<T>,
    parent: CallContext,
    below: Runner | undefined,
    timeoutRunner: Runner,
    fusion: Fusion,
    ticket?: unknown,
  ): Promise<T> {
    const core = this.#core;
    if (core.deadlines !== undefined) return this[runInContext](fn, parent, timeoutRunner);
    if (parent.stopped) return Promise.reject(abortedError(parent.caller));
    core.calls++;
    core.budget?.recordCall();
    const context = parent.attempt === 0 ? parent : new AttemptContext(parent, 0);
    return timeout[runRecovering](fn, context, below, fusion, ticket);
  }

  /** @internal Whether {@link runWithTimeout} fuses (no deadline): a gate may go through it. */
  get [fusesGate](): boolean {
    return this.#core.deadlines === undefined;
  }

  /** @internal */
  [runInContext]<T>(
    fn: (context: CallContext) => Promise<T>,
    parent: CallContext,
    next: Runner | undefined,
  ): Promise<T> {
    if (parent.stopped) return Promise.reject(abortedError(parent.caller));
    const core = this.#core;
    core.calls++;
    core.budget?.recordCall();
    if (core.deadlines !== undefined) return new RetryCall(core, fn, parent, next).start();
    const context = parent.attempt === 0 ? parent : new AttemptContext(parent, 0);
    return proceed(fn, context, next).then(undefined, (error: unknown) =>
      core.retryAfter(fn, parent, next, error),
    );
  }
}

/**
 * Calls `fn` until it resolves, at most `retries + 1` times, waiting an exponential backoff
 * with jitter between attempts. Rethrows the last error, or one `shouldRetry` refused. A
 * one-off {@link Retry}: make a `Retry` to keep its stats or compose it with {@link wrap}.
 * @throws {@link DeadlineExceededError} `HP_ERR_DEADLINE_EXCEEDED` when `deadlineMs` passes.
 * @throws {@link AbortedError} `HP_ERR_ABORTED` when `signal` aborts before or between attempts.
 * @example
 * const user = await retry((attempt) => api.getUser(id), { retries: 3, shouldRetry: isTransient });
 */
export function retry<T>(
  fn: (attempt: number, context: PolicyContext) => Promise<T>,
  options: RetryOptions & { signal?: AbortSignal } = {},
): Promise<T> {
  let policy: Retry;
  try {
    policy = new Retry(options);
  } catch (error) {
    return Promise.reject(error);
  }
  return policy.execute((context) => fn(context.attempt, context), options.signal);
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new AbortedError(undefined, { cause: signal.reason }));
    const onAbort = () => {
      clearTimeout(timer);
      reject(new AbortedError(undefined, { cause: signal?.reason }));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
