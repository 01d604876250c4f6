import { AbortedError } from '../errors/index.js';

/** What a policy hands the function it runs. */
export interface PolicyContext {
  /**
   * Aborts when the call should stop: the caller's signal aborted, or a timeout or deadline
   * around the call passed. `undefined` when nothing around the call can stop it. Read it only
   * to pass it on (to fetch, undici, pg): a {@link Timeout} or a deadline creates its
   * AbortController on the first read, so a function that never reads it costs none.
   */
  readonly signal: AbortSignal | undefined;
  /** 0 for the first attempt, 1 for the first retry, ..., as counted by the nearest retry around. */
  readonly attempt: number;
}

/**
 * A policy: runs `fn` under some rule (a time limit, retries, a concurrency cap...) and
 * settles as `fn` does or with the policy's own error. {@link Timeout}, {@link Retry} and
 * {@link wrap}'s result implement it.
 */
export interface Policy {
  /**
   * Runs `fn` under the policy.
   * @param signal The caller's signal: when it aborts, the call stops with `AbortedError`
   *   (`HP_ERR_ABORTED`) and `fn`'s `context.signal` aborts.
   */
  execute<T>(fn: (context: PolicyContext) => Promise<T>, signal?: AbortSignal): Promise<T>;
}

/**
 * What {@link wrap} composes: any object with `execute(fn, signal?)` that calls `fn` once per
 * run. `fn` may be given a {@link PolicyContext}, an `AbortSignal` (as {@link Bulkhead} does) or
 * nothing (as {@link CircuitBreaker} does); {@link wrap} keeps the context of the layer around
 * when it gets nothing. A third party's policy (a rate limiter, a concurrency limit) fits as is.
 */
export interface PolicyLike {
  execute<T>(fn: (arg?: unknown) => Promise<T>, signal?: AbortSignal): Promise<T>;
}

/**
 * The method hotpath's own policies share beside `execute`: it takes the context of the layer
 * around instead of a bare signal, so composing them needs no adapter and the signals stay
 * lazy. Not exported from the module.
 */
export const runInContext: unique symbol = Symbol('hotpath.resilience.runInContext');

/**
 * The synchronous halves of a {@link Bulkhead}'s and a {@link CircuitBreaker}'s `execute`
 * (admit a call; record its end), which {@link wrap} runs itself around the layers below in
 * one async frame instead of a promise reaction and a closure per policy. Not exported from
 * the module.
 */
export const enterGate: unique symbol = Symbol('hotpath.resilience.enterGate');
export const leaveGate: unique symbol = Symbol('hotpath.resilience.leaveGate');

/**
 * What the gate of a {@link wrap} (a fused bulkhead and breaker) does when a call it admitted
 * ends, run by the Timeout inside it when the three are fused: records the outcome and gives
 * the slot back. It may throw (a breaker's state listener), and the call then rejects with that.
 */
export interface CallEnd {
  end(ticket: unknown, rejected: boolean, error: unknown): void;
}

/** What a Retry right around a Timeout does with a failed first attempt: the retries. */
export interface Recovery {
  recover<T>(
    fn: (context: CallContext) => Promise<T>,
    parent: CallContext,
    error: unknown,
  ): Promise<T>;
}

/**
 * What a Timeout fused with the Retry right around it (and maybe a wrap's gate around that)
 * hands its failures and its end to: made once per wrap, so a call carries one field for it.
 */
export interface Fusion {
  readonly recovery: Recovery;
  readonly gate: CallEnd | undefined;
}

/**
 * Runs `fn` in `context` through the layers below a policy in a {@link wrap}. Built once per
 * layer, so a layer passes the call on without allocating a closure per call.
 */
export type Runner = <T>(
  fn: (context: CallContext) => Promise<T>,
  context: CallContext,
) => Promise<T>;

/** A policy of this module: `execute` plus {@link runInContext}. */
export interface ContextualPolicy extends Policy {
  /** Runs the call in `context`, handing it to `next` (the layers below) or else to `fn`. */
  [runInContext]<T>(
    fn: (context: CallContext) => Promise<T>,
    context: CallContext,
    next: Runner | undefined,
  ): Promise<T>;
}

export function isContextual(policy: PolicyLike): policy is PolicyLike & ContextualPolicy {
  return typeof (policy as Partial<ContextualPolicy>)[runInContext] === 'function';
}

/**
 * The context of one call as it passes through the layers. This base is what a caller's
 * signal alone gives; the layers that can stop a call (timeout, deadline) subclass it.
 */
export class CallContext implements PolicyContext {
  // The fields of the contexts made per call are `declare`d and assigned in the constructor:
  // a class field is defined (Object.defineProperty semantics, ES2022), which on Node 20
  // made the timeout call's five-class construction markedly slower (the composed row of
  // bench/resilience/compose.bench.ts).
  /** The signal the caller gave `execute`: layers that must reject at once listen to it. */
  declare readonly caller: AbortSignal | undefined;
  declare readonly attempt: number;

  constructor(caller: AbortSignal | undefined, attempt: number) {
    this.caller = caller;
    this.attempt = attempt;
  }

  get signal(): AbortSignal | undefined {
    return this.caller;
  }

  /** Whether the call was stopped, read without creating any signal. */
  get stopped(): boolean {
    return this.caller?.aborted === true;
  }
}

/** The context of a call with no caller signal, the common case: shared, it is immutable. */
export const rootContext = new CallContext(undefined, 0);

export function contextFor(signal: AbortSignal | undefined): CallContext {
  return signal === undefined ? rootContext : new CallContext(signal, 0);
}

/** Another attempt of the call `base` runs: the same signal, another number. */
export class AttemptContext extends CallContext {
  readonly #base: CallContext;

  constructor(base: CallContext, attempt: number) {
    super(base.caller, attempt);
    this.#base = base;
  }

  /** The context of the call this is an attempt of. */
  get base(): CallContext {
    return this.#base;
  }

  override get signal(): AbortSignal | undefined {
    return this.#base.signal;
  }

  override get stopped(): boolean {
    return this.#base.stopped;
  }
}

/**
 * The context for the layer inside a foreign policy, from what that policy passed its `fn`:
 * nothing or the signal it was given keeps `parent`; another signal or a context-like object
 * starts a context on that signal.
 */
export function contextFrom(arg: unknown, parent: CallContext): CallContext {
  if (arg === undefined || arg === null) return parent;
  if (arg instanceof CallContext) return arg;
  if (arg instanceof AbortSignal) {
    return arg === parent.caller || arg === parent.signal
      ? parent
      : new CallContext(arg, parent.attempt);
  }
  if (typeof arg === 'object' && 'signal' in arg) {
    const { signal, attempt } = arg as { signal?: unknown; attempt?: unknown };
    return new CallContext(
      signal instanceof AbortSignal ? signal : parent.caller,
      typeof attempt === 'number' ? attempt : parent.attempt,
    );
  }
  return parent;
}

/** Passes the call to the layers below (`next`), or calls `fn` when there are none. */
export function proceed<T>(
  fn: (context: CallContext) => Promise<T>,
  context: CallContext,
  next: Runner | undefined,
): Promise<T> {
  return next === undefined ? invoke(fn, context) : next(fn, context);
}

/** Calls `fn`, turning a synchronous throw into a rejection. */
export function invoke<C, T>(fn: (context: C) => Promise<T>, context: C): Promise<T> {
  try {
    return fn(context);
  } catch (error) {
    return Promise.reject(error);
  }
}

export function abortedError(signal: AbortSignal | undefined): AbortedError {
  return new AbortedError(undefined, { cause: signal?.reason });
}

/** What a {@link StoppableContext} needs only once its signal is read or its call stopped. */
class SignalState {
  controller: AbortController | undefined = undefined;
  isStopped = false;
  reason: unknown = undefined;
  onCallerAbort: (() => void) | undefined = undefined;
  linked: AbortSignal | undefined = undefined;
  onLinkedAbort: (() => void) | undefined = undefined;
}

/**
 * A context that can stop its call (a timeout's, a deadline's). Its signal is created on the
 * first read and aborts when the call is stopped or the signal of the layer around aborts;
 * until someone reads it there is no AbortController and no listener, and the state for them
 * is not even allocated (the success path of a timeout allocates as little as it can:
 * bench/resilience/compose.bench.ts). It is also the call's entry in a DeadlineQueue.
 */
export abstract class StoppableContext extends CallContext {
  // Queue links (DeadlineQueue reads and writes these).
  declare expiresAt: number;
  declare nextDeadline: StoppableContext | undefined;
  /** The call is over (its outcome is decided): the queue drops it without expiring it. */
  declare settled: boolean;

  declare readonly parent: CallContext;
  #state: SignalState | undefined = undefined;

  constructor(parent: CallContext, attempt: number) {
    super(parent.caller, attempt);
    this.expiresAt = 0;
    this.nextDeadline = undefined;
    this.settled = false;
    this.parent = parent;
  }

  override get signal(): AbortSignal {
    const state = (this.#state ??= new SignalState());
    let controller = state.controller;
    if (controller === undefined) {
      controller = state.controller = new AbortController();
      if (state.isStopped) controller.abort(state.reason);
      else if (!this.settled) this.#link(state);
    }
    return controller.signal;
  }

  override get stopped(): boolean {
    return this.#state?.isStopped === true || this.parent.stopped;
  }

  /** Called once when the time is up. The queue has set `settled`. */
  abstract expire(): void;

  /** Called when the caller's or the parent's signal aborts before the call settled. */
  protected abstract onAbort(reason: unknown): void;

  /** Listens to the caller's signal now, for a layer that must reject as soon as it aborts. */
  protected listenToCaller(): void {
    const caller = this.caller;
    if (caller === undefined) return;
    const onAbort = () => this.onAbort(caller.reason);
    (this.#state ??= new SignalState()).onCallerAbort = onAbort;
    caller.addEventListener('abort', onAbort, { once: true });
  }

  /** Aborts the signal, if one was handed out, with `reason`, and lets go of the parent's. */
  protected stop(reason: unknown): void {
    const state = (this.#state ??= new SignalState());
    if (state.isStopped) return;
    state.isStopped = true;
    state.reason = reason;
    this.release();
    state.controller?.abort(reason);
  }

  /** Removes the listeners on the caller's and the parent's signals. */
  protected release(): void {
    const state = this.#state;
    if (state === undefined) return;
    if (state.onCallerAbort !== undefined) {
      this.caller?.removeEventListener('abort', state.onCallerAbort);
      state.onCallerAbort = undefined;
    }
    if (state.onLinkedAbort !== undefined) {
      state.linked?.removeEventListener('abort', state.onLinkedAbort);
      state.onLinkedAbort = undefined;
      state.linked = undefined;
    }
  }

  #link(state: SignalState): void {
    // The caller's signal is heard already when listenToCaller ran.
    const parentSignal = this.parent.signal;
    if (parentSignal === undefined) return;
    if (parentSignal === this.caller && state.onCallerAbort !== undefined) return;
    if (parentSignal.aborted) {
      this.onAbort(parentSignal.reason);
      return;
    }
    const onAbort = () => this.onAbort(parentSignal.reason);
    state.linked = parentSignal;
    state.onLinkedAbort = onAbort;
    parentSignal.addEventListener('abort', onAbort, { once: true });
  }
}
