import { HotpathError } from '../errors/index.js';

/** The circuit is open: the call was refused without running (`HP_ERR_CIRCUIT_OPEN`). */
export class CircuitOpenError extends HotpathError {
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
export class BulkheadFullError extends HotpathError {
  constructor(maxConcurrent: number, maxQueue: number) {
    super('HP_ERR_BULKHEAD_FULL', `bulkhead full: ${maxConcurrent} running and ${maxQueue} queued`);
  }
}

/** The operation did not finish within its time limit (`HP_ERR_TIMEOUT`). */
export class TimeoutError extends HotpathError {
  readonly timeoutMs: number;

  constructor(timeoutMs: number) {
    super('HP_ERR_TIMEOUT', `timed out after ${timeoutMs} ms`);
    this.timeoutMs = timeoutMs;
  }
}
