import { InvalidOptionError } from '../errors/index.js';
import {
  abortedError,
  contextFor,
  contextFrom,
  invoke,
  isContextual,
  runInContext,
  type CallContext,
  type ContextualPolicy,
  type Policy,
  type PolicyContext,
  type PolicyLike,
  type Runner,
} from './policy.js';
import { fusesGate, recoveryFor, Retry, runWithTimeout } from './retry.js';
import { Timeout } from './timeout.js';
import { gateRunner, isPlainBreaker, isPlainBulkhead, type FusedRetry } from './wrap-gate.js';

/** Links `policy` on top of `inner` (the layers below it; none for the innermost). */
function link(policy: PolicyLike, inner: Runner | undefined): Runner {
  if (isContextual(policy)) {
    // One of ours: it takes the context and the layers below, so no adapter closure and no
    // signal is made per call.
    return (fn, context) => policy[runInContext](fn, context, inner);
  }
  // A foreign policy gets the signal; what it hands its fn tells the context below.
  if (inner === undefined) {
    return (fn, context) =>
      policy.execute((arg) => invoke(fn, contextFrom(arg, context)), context.signal);
  }
  return (fn, context) =>
    policy.execute((arg) => inner(fn, contextFrom(arg, context)), context.signal);
}

class Wrapped implements ContextualPolicy {
  readonly #run: Runner;

  constructor(policies: readonly PolicyLike[]) {
    for (const [i, policy] of policies.entries()) {
      if (typeof (policy as Partial<PolicyLike> | null)?.execute !== 'function')
        throw new InvalidOptionError(
          `policies[${i}]`,
          'expected an object with execute(fn, signal?)',
        );
    }
    // runners[i] runs the layers from i down; undefined past the innermost. fused[i] is set
    // when layers i and i + 1 are a Retry (no deadline) and a Timeout run as one.
    const runners: (Runner | undefined)[] = [];
    const fused: (FusedRetry | undefined)[] = [];
    for (let i = policies.length - 1; i >= 0; i--) {
      const policy = policies[i]!;
      const below = policies[i + 1];
      if (isPlainBulkhead(policy) && isPlainBreaker(below)) {
        // bulkhead -> breaker, the recommended outer pair: admitted and recorded together.
        const nested = link(policy, link(below, runners[i + 2]));
        runners[i] = gateRunner(policy, below, runners[i + 2], nested, fused[i + 2]);
      } else if (isPlainBulkhead(policy)) {
        const nested = link(policy, runners[i + 1]);
        runners[i] = gateRunner(policy, undefined, runners[i + 1], nested, fused[i + 1]);
      } else if (isPlainBreaker(policy)) {
        const nested = link(policy, runners[i + 1]);
        runners[i] = gateRunner(undefined, policy, runners[i + 1], nested, fused[i + 1]);
      } else if (policy instanceof Retry && below instanceof Timeout) {
        // The recommended retry -> timeout pair runs on one promise reaction.
        const timeoutRunner = runners[i + 1]!;
        const belowTimeout = runners[i + 2];
        const recovery = policy[recoveryFor](timeoutRunner);
        const fusion = { recovery, gate: undefined };
        runners[i] = (fn, context) =>
          policy[runWithTimeout](below, fn, context, belowTimeout, timeoutRunner, fusion);
        if (policy[fusesGate])
          fused[i] = { retry: policy, timeout: below, belowTimeout, timeoutRunner, recovery };
      } else {
        runners[i] = link(policy, runners[i + 1]);
      }
    }
    this.#run = runners[0] ?? ((fn, context) => invoke(fn, context));
  }

  execute<T>(fn: (context: PolicyContext) => Promise<T>, signal?: AbortSignal): Promise<T> {
    if (signal?.aborted) return Promise.reject(abortedError(signal));
    return this.#run(fn, contextFor(signal));
  }

  [runInContext]<T>(
    fn: (context: CallContext) => Promise<T>,
    context: CallContext,
    next: Runner | undefined,
  ): Promise<T> {
    // A wrap inside a wrap: its layers, then the outer wrap's layers below it.
    if (next === undefined) return this.#run(fn, context);
    return this.#run((c) => next(fn, c), context);
  }
}

/**
 * Composes policies into one, outermost first: `wrap(a, b, c).execute(fn)` runs
 * `a(b(c(fn)))`. The order is the design, so choose it: the recommended one for a call to a
 * dependency is
 *
 * ```
 *   bulkhead / concurrency limit -> circuit breaker -> retry (budget, deadline) -> timeout -> fn
 * ```
 *
 * the bulkhead bounds whole calls (retries included) in flight; the breaker judges whole
 * calls, one outcome per call after its retries, so flakiness the retries absorb keeps it
 * closed; each attempt gets its own timeout. `fn` gets a {@link PolicyContext}: the attempt
 * number of the retry and a signal that aborts when the caller's does or a timeout or
 * deadline passes. Any object with `execute(fn, signal?)` composes ({@link PolicyLike}):
 * {@link CircuitBreaker}, {@link Bulkhead}, a rate limiter, a third party's policy. The result
 * is a {@link Policy}, so wraps nest.
 * @throws {@link InvalidOptionError} `HP_ERR_INVALID_OPTION` when a policy has no `execute`.
 * @example
 * const gateway = wrap(
 *   new Bulkhead({ maxConcurrent: 64, maxQueue: 256 }),
 *   new CircuitBreaker({ failureRateThreshold: 0.5 }),
 *   new Retry({ retries: 2, budget: new RetryBudget(), deadlineMs: 5000 }),
 *   new Timeout({ timeoutMs: 2000 }),
 * );
 * const body = await gateway.execute(({ signal }) => fetch(url, { signal }));
 */
export function wrap(...policies: PolicyLike[]): Policy {
  return new Wrapped(policies);
}
