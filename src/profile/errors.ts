import { HotpathError } from '../errors/index.js';

/**
 * A profile of the same kind is already running (`HP_ERR_PROFILE_BUSY`). Profiles are taken
 * one at a time, as in Go's net/http/pprof: two would measure each other.
 */
export class ProfileBusyError extends HotpathError<'HP_ERR_PROFILE_BUSY'> {
  /** The kind that is busy: `cpu` or `heap`. */
  readonly kind: string;

  constructor(kind: string, options?: ErrorOptions) {
    super('HP_ERR_PROFILE_BUSY', `a ${kind} profile is already running`, options);
    this.kind = kind;
  }
}

/**
 * A heap snapshot was refused by the cost check (`HP_ERR_PROFILE_SNAPSHOT_REFUSED`): taking
 * it would need more memory than is free or freeze the event loop for too long.
 */
export class HeapSnapshotRefusedError extends HotpathError<'HP_ERR_PROFILE_SNAPSHOT_REFUSED'> {
  /** The estimate the decision was made on. */
  readonly estimate: HeapSnapshotEstimate;

  constructor(message: string, estimate: HeapSnapshotEstimate, options?: ErrorOptions) {
    super('HP_ERR_PROFILE_SNAPSHOT_REFUSED', message, options);
    this.estimate = estimate;
  }
}

/** The estimated cost of a heap snapshot and the facts it was computed from. */
export interface HeapSnapshotEstimate {
  /** Bytes in use on the V8 heap now. */
  usedHeapBytes: number;
  /** Bytes of memory the process may still use (free system memory or cgroup headroom). */
  freeBytes: number;
  /** Estimated extra resident memory while the snapshot is taken, in bytes. */
  extraBytes: number;
  /** Estimated time the thread is blocked, in milliseconds. */
  pauseMs: number;
}

/** No running worker thread has the requested name (`HP_ERR_PROFILE_WORKER_NOT_FOUND`). */
export class WorkerNotFoundError extends HotpathError<'HP_ERR_PROFILE_WORKER_NOT_FOUND'> {
  /** The name asked for. */
  readonly worker: string;

  constructor(worker: string, available: readonly string[], options?: ErrorOptions) {
    const list = available.length > 0 ? available.join(', ') : 'none';
    super(
      'HP_ERR_PROFILE_WORKER_NOT_FOUND',
      `no worker thread named "${worker}" (running: ${list})`,
      options,
    );
    this.worker = worker;
  }
}

/** A profile file could not be decoded (`HP_ERR_PROFILE_DECODE`). */
export class ProfileDecodeError extends HotpathError<'HP_ERR_PROFILE_DECODE'> {
  constructor(message: string, options?: ErrorOptions) {
    super('HP_ERR_PROFILE_DECODE', message, options);
  }
}
