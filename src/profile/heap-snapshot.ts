import { freemem } from 'node:os';
import type { Readable } from 'node:stream';
import { getHeapSnapshot, getHeapStatistics } from 'node:v8';
import type { HeapSnapshotEstimate } from './errors.js';
import { HeapSnapshotRefusedError } from './errors.js';

/** What the snapshot cost check reads; inject one in tests to say memory is short. */
export interface MemoryReader {
  /** Bytes in use on the V8 heap. */
  usedHeapBytes(): number;
  /** Bytes the process may still allocate before the system (or its cgroup) runs out. */
  freeBytes(): number;
}

/** Reads the V8 heap statistics, free system memory and the cgroup limit, if any. */
export const systemMemory: MemoryReader = {
  usedHeapBytes: () => getHeapStatistics().used_heap_size,
  freeBytes() {
    const free = freemem();
    const limit = process.constrainedMemory?.() ?? 0;
    // constrainedMemory() returns 0 (or a huge number) when no cgroup limit applies.
    if (limit > 0 && limit < Number.MAX_SAFE_INTEGER) {
      return Math.max(0, Math.min(free, limit - process.memoryUsage.rss()));
    }
    return free;
  },
};

/** Limits of the heap snapshot cost check. */
export interface SnapshotLimits {
  /**
   * Extra resident memory per byte of used heap while V8 builds the snapshot. Measured: a
   * 108 MB heap of 1.9 M objects grew RSS by 1.24 GB, 11.5x. @defaultValue 12
   */
  memoryFactor?: number;
  /** Fraction of the free memory the snapshot may take. @defaultValue 0.5 */
  maxFreeFraction?: number;
  /** Bytes of heap V8 serializes per second (same measurement: 108 MB in 12 s). @defaultValue 9e6 */
  bytesPerSecond?: number;
  /** The longest pause accepted, in milliseconds. @defaultValue 30000 */
  maxPauseMs?: number;
}

/** Estimates what a heap snapshot would cost now. */
export function estimateSnapshot(
  memory: MemoryReader,
  limits: SnapshotLimits = {},
): HeapSnapshotEstimate {
  const usedHeapBytes = memory.usedHeapBytes();
  return {
    usedHeapBytes,
    freeBytes: memory.freeBytes(),
    extraBytes: Math.round(usedHeapBytes * (limits.memoryFactor ?? 12)),
    pauseMs: Math.round((usedHeapBytes / (limits.bytesPerSecond ?? 9e6)) * 1000),
  };
}

/**
 * Throws unless a heap snapshot fits: the estimated extra memory must stay under
 * `maxFreeFraction` of the free memory and the estimated pause under `maxPauseMs`.
 * @throws {@link HeapSnapshotRefusedError} `HP_ERR_PROFILE_SNAPSHOT_REFUSED`
 */
export function checkSnapshotCost(
  memory: MemoryReader,
  limits: SnapshotLimits = {},
): HeapSnapshotEstimate {
  const estimate = estimateSnapshot(memory, limits);
  const mb = (n: number): string => `${(n / 1048576).toFixed(0)} MB`;
  const allowed = estimate.freeBytes * (limits.maxFreeFraction ?? 0.5);
  if (estimate.extraBytes > allowed) {
    throw new HeapSnapshotRefusedError(
      `a heap snapshot of ${mb(estimate.usedHeapBytes)} used heap needs about ` +
        `${mb(estimate.extraBytes)} more memory, but only ${mb(estimate.freeBytes)} is free; ` +
        'pass force=1 to take it anyway',
      estimate,
    );
  }
  const maxPauseMs = limits.maxPauseMs ?? 30000;
  if (estimate.pauseMs > maxPauseMs) {
    throw new HeapSnapshotRefusedError(
      `a heap snapshot of ${mb(estimate.usedHeapBytes)} would block the event loop for about ` +
        `${(estimate.pauseMs / 1000).toFixed(0)} s (limit ${(maxPauseMs / 1000).toFixed(0)} s); ` +
        'pass force=1 to take it anyway',
      estimate,
    );
  }
  return estimate;
}

/**
 * Takes a full V8 heap snapshot of the calling thread as a stream of `.heapsnapshot` JSON.
 * The thread is blocked while V8 builds it; call {@link checkSnapshotCost} first.
 */
export function heapSnapshotStream(): Readable {
  return getHeapSnapshot();
}
