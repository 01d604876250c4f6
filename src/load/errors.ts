import { HotpathError } from '../errors/index.js';

/**
 * A worker thread of `load({ workers })` crashed or exited before reporting its result; the
 * run's other workers are stopped. `cause` holds the worker's error when there was one.
 */
export class LoadWorkerError extends HotpathError {
  /** Index of the failed worker (0-based). */
  readonly worker: number;

  constructor(worker: number, message: string, options?: ErrorOptions) {
    super('HP_ERR_LOAD_WORKER_FAILED', `load worker ${worker} ${message}`, options);
    this.worker = worker;
  }
}
