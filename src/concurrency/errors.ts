import { HotpathError } from '../errors/index.js';

/** A worker pool's threads and bounded queue are full (`HP_ERR_POOL_QUEUE_FULL`). */
export class PoolQueueFullError extends HotpathError<'HP_ERR_POOL_QUEUE_FULL'> {
  /** Tasks the pool holds at most: running slots plus `maxQueue`. */
  readonly capacity: number;

  constructor(capacity: number) {
    super('HP_ERR_POOL_QUEUE_FULL', `worker pool full: ${capacity} tasks running or queued`);
    this.capacity = capacity;
  }
}
