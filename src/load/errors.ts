import { HotpathError } from '../errors/index.js';

/**
 * A worker thread of `load({ workers })` crashed or exited before reporting its result; the
 * run's other workers are stopped. `cause` holds the worker's error when there was one.
 */
export class LoadWorkerError extends HotpathError<'HP_ERR_LOAD_WORKER_FAILED'> {
  /** Index of the failed worker (0-based). */
  readonly worker: number;

  constructor(worker: number, message: string, options?: ErrorOptions) {
    super('HP_ERR_LOAD_WORKER_FAILED', `load worker ${worker} ${message}`, options);
    this.worker = worker;
  }
}

/**
 * Load results cannot be merged exactly: their histograms have different layouts (lowest,
 * highest, precision), or their latencies have different time bases (unit, or measured from
 * the intended send in one and from the actual send in another: open and closed model).
 */
export class LoadMergeError extends HotpathError<'HP_ERR_LOAD_MERGE_MISMATCH'> {
  /** Index of the first part that disagrees with part 0. */
  readonly part: number;

  constructor(part: number, message: string, options?: ErrorOptions) {
    super('HP_ERR_LOAD_MERGE_MISMATCH', `cannot merge result ${part}: ${message}`, options);
    this.part = part;
  }
}
