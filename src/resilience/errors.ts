import { HotpathError } from '../errors/index.js';

/** The circuit is open: the call was refused without running (`HP_ERR_CIRCUIT_OPEN`). */
export class CircuitOpenError extends HotpathError<'HP_ERR_CIRCUIT_OPEN'> {
  /** Milliseconds until the breaker lets a trial call through. */
  readonly retryAfterMs: number;

  constructor(retryAfterMs: number) {
    super(
      'HP_ERR_CIRCUIT_OPEN',
      `circuit open: calls refused for ${Math.ceil(retryAfterMs)} ms more`,
    );
    this.retryAfterMs = retryAfterMs;
  }
}

/** The bulkhead's running slots and queue are full (`HP_ERR_BULKHEAD_FULL`). */
export class BulkheadFullError extends HotpathError<'HP_ERR_BULKHEAD_FULL'> {
  constructor(maxConcurrent: number, maxQueue: number) {
    super('HP_ERR_BULKHEAD_FULL', `bulkhead full: ${maxConcurrent} running and ${maxQueue} queued`);
  }
}

/** The operation did not finish within its time limit (`HP_ERR_TIMEOUT`). */
export class TimeoutError extends HotpathError<'HP_ERR_TIMEOUT'> {
  readonly timeoutMs: number;

  constructor(timeoutMs: number) {
    super('HP_ERR_TIMEOUT', `timed out after ${timeoutMs} ms`);
    this.timeoutMs = timeoutMs;
  }
}

/** A rate limiter refused the call (`HP_ERR_RATE_LIMITED`). */
export class RateLimitedError extends HotpathError<'HP_ERR_RATE_LIMITED'> {
  /** Milliseconds until the same call would be allowed. */
  readonly retryAfterMs: number;

  constructor(retryAfterMs: number) {
    super('HP_ERR_RATE_LIMITED', `rate limited: retry in ${Math.ceil(retryAfterMs)} ms`);
    this.retryAfterMs = retryAfterMs;
  }
}

/**
 * A rate-limit decision asked for a cost that is not a whole number in [0, burst]
 * (`HP_ERR_RATE_LIMIT_COST`): more than the burst could never be granted, however long the
 * caller waited.
 */
export class RateLimitCostError extends HotpathError<'HP_ERR_RATE_LIMIT_COST'> {
  readonly cost: number;
  readonly burst: number;

  constructor(cost: number, burst: number) {
    super(
      'HP_ERR_RATE_LIMIT_COST',
      `rate limit cost ${String(cost)} is not a whole number in [0, ${burst}] (the burst)`,
    );
    this.cost = cost;
    this.burst = burst;
  }
}

/**
 * The overall deadline of a call, across all its attempts and the waits between them, passed
 * (`HP_ERR_DEADLINE_EXCEEDED`). Its `cause` is the last attempt's error, if one failed.
 */
export class DeadlineExceededError extends HotpathError<'HP_ERR_DEADLINE_EXCEEDED'> {
  readonly deadlineMs: number;

  constructor(deadlineMs: number, options?: ErrorOptions) {
    super('HP_ERR_DEADLINE_EXCEEDED', `deadline of ${deadlineMs} ms exceeded`, options);
    this.deadlineMs = deadlineMs;
  }
}

/**
 * A concurrency limiter refused the call (`HP_ERR_CONCURRENCY_LIMIT`): its adaptive limit
 * of calls in flight was reached and its queue was full, or the call waited in the queue
 * longer than allowed.
 */
export class ConcurrencyLimitError extends HotpathError<'HP_ERR_CONCURRENCY_LIMIT'> {
  /** The limit when the call was refused. */
  readonly limit: number;
  /** Calls in flight when the call was refused. */
  readonly inFlight: number;
  /** Whether the call waited in the queue first (and timed out there). */
  readonly didWait: boolean;

  constructor(limit: number, inFlight: number, didWait: boolean) {
    super(
      'HP_ERR_CONCURRENCY_LIMIT',
      didWait
        ? `concurrency limit: no slot freed in time (limit ${limit}, ${inFlight} in flight)`
        : `concurrency limit reached: ${inFlight} in flight, limit ${limit}`,
    );
    this.limit = limit;
    this.inFlight = inFlight;
    this.didWait = didWait;
  }
}
