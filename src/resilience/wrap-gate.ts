import { Bulkhead } from './bulkhead.js';
import { CircuitBreaker, CLOSED_UNTIMED, type CallTicket } from './circuit-breaker.js';
import {
  enterGate,
  leaveGate,
  type CallContext,
  type CallEnd,
  type Fusion,
  type PolicyLike,
  type Recovery,
  type Runner,
} from './policy.js';
import { runWithTimeout, type Retry } from './retry.js';
import type { Timeout } from './timeout.js';

/** A Retry (with no deadline) and the Timeout right below it, as a wrap runs them fused. */
export interface FusedRetry {
  retry: Retry;
  timeout: Timeout;
  /** Runs the layers below the timeout. */
  belowTimeout: Runner | undefined;
  /** Runs the timeout and the layers below it (the retries' attempts). */
  timeoutRunner: Runner;
  recovery: Recovery;
}

/** A Bulkhead whose `execute` is Bulkhead's own (a subclass may change what it does). */
export function isPlainBulkhead(policy: PolicyLike | undefined): policy is Bulkhead {
  return policy instanceof Bulkhead && policy.execute === Bulkhead.prototype.execute;
}

/** A CircuitBreaker whose `execute` is CircuitBreaker's own. */
export function isPlainBreaker(policy: PolicyLike | undefined): policy is CircuitBreaker {
  return policy instanceof CircuitBreaker && policy.execute === CircuitBreaker.prototype.execute;
}

type Ticket = CallTicket;

/** The ticket of a call admitted by a closed circuit with no `slowCallMs`. */
const USUAL_TICKET: Ticket = CLOSED_UNTIMED;

/**
 * The runner {@link wrap} uses for a {@link Bulkhead} followed by a {@link CircuitBreaker}
 * (the recommended outer pair), or for either alone: it admits the call through both
 * synchronously, runs the layers below (`inner`) and records the end of the call for both
 * in one promise reaction, where nesting their `execute`s costs a closure and a reaction
 * each. One `.then` is also cheaper than one async frame that awaits on Node 20 (the
 * composed row of bench/resilience/compose.bench.ts), and for the usual
 * ticket (closed circuit, no `slowCallMs`) its two handlers are made once, not per call. The
 * order and the outcome are the nested ones: the bulkhead admits first and is left last, a
 * call the breaker refuses gives its slot back at once, and a call that would queue in the
 * bulkhead (or whose signal is aborted) goes through `nested`, the policies' own `execute`s.
 */
export function gateRunner(
  bulkhead: Bulkhead | undefined,
  breaker: CircuitBreaker | undefined,
  inner: Runner | undefined,
  nested: Runner,
  flat: FusedRetry | undefined,
): Runner {
  const leave = (ticket: Ticket | undefined, rejected: boolean, error: unknown): void => {
    try {
      if (breaker !== undefined) breaker[leaveGate](ticket!, rejected, error);
    } finally {
      bulkhead?.[leaveGate]();
    }
  };
  const gate: CallEnd = {
    end: (ticket, rejected, error) => leave(ticket as Ticket, rejected, error),
  };
  const handlers = (ticket: Ticket | undefined) =>
    [
      <T>(value: T): T => {
        leave(ticket, false, undefined);
        return value;
      },
      (error: unknown): never => {
        leave(ticket, true, error);
        throw error;
      },
    ] as const;
  const fusion: Fusion | undefined =
    flat === undefined ? undefined : { recovery: flat.recovery, gate };
  const [onValue, onError] = handlers(breaker === undefined ? undefined : USUAL_TICKET);
  return <T>(fn: (context: CallContext) => Promise<T>, context: CallContext): Promise<T> => {
    if (bulkhead !== undefined && (context.stopped || !bulkhead[enterGate]()))
      return nested(fn, context);
    let ticket: Ticket | undefined;
    if (breaker !== undefined) {
      const admitted = breaker[enterGate]();
      if (admitted.refusal !== undefined) {
        bulkhead?.[leaveGate]();
        return Promise.reject(admitted.refusal);
      }
      ticket = admitted;
    }
    if (fusion !== undefined && !context.stopped) {
      // bulkhead -> breaker -> retry -> timeout: the timeout's call tells the gate of its end,
      // so the first attempt's success path has one promise and one reaction in all.
      const { retry, timeout, belowTimeout, timeoutRunner } = flat!;
      return retry[runWithTimeout](
        timeout,
        fn,
        context,
        belowTimeout,
        timeoutRunner,
        fusion,
        ticket,
      );
    }
    let pending: Promise<T>;
    try {
      pending = inner === undefined ? fn(context) : inner(fn, context);
    } catch (error) {
      pending = Promise.reject(error);
    }
    if (ticket === USUAL_TICKET || breaker === undefined) return pending.then(onValue, onError);
    const [onTicketValue, onTicketError] = handlers(ticket);
    return pending.then(onTicketValue, onTicketError);
  };
}
