import type { Clock } from '../../internal/clock.js';
import { Histogram } from '../../metrics/index.js';

/** The pool's state and counters; see {@link InstrumentedPool.metrics}. */
export interface PoolMetrics {
  /** Connections open (idle + in use). */
  total: number;
  idle: number;
  inUse: number;
  /** Callers waiting for a connection. */
  waiting: number;
  max: number;
  /** Connections handed out since instrumentation began. */
  acquires: number;
  /** Acquires that hit the deadline. */
  acquireTimeouts: number;
  /** Acquires that failed (could not connect). */
  acquireErrors: number;
  /** Queries that failed. */
  queryErrors: number;
  /** Errors on idle connections (server restart, network). */
  idleErrors: number;
  /** Wait for a connection, in milliseconds. */
  acquireWaitMs: { count: number; mean: number; p50: number; p99: number; max: number };
  /**
   * Seconds spent waiting for a connection per second of wall time since the previous call (or
   * since start): 0 when nobody waits, 3 when three callers waited all along. Above 0 the pool
   * is the bottleneck.
   */
  saturation: number;
  /** Clients held past the leak threshold right now. */
  leaked: number;
}

/** The part of a pg pool's state {@link PoolCounters.snapshot} reads. */
export interface PoolState {
  totalCount: number;
  idleCount: number;
  waitingCount: number;
  options: { max?: number };
}

/**
 * The counters of an instrumented pool: plain fields bumped on the hot path (no allocation),
 * turned into a {@link PoolMetrics} snapshot on demand.
 */
export class PoolCounters {
  acquires = 0;
  acquireTimeouts = 0;
  acquireErrors = 0;
  queryErrors = 0;
  idleErrors = 0;
  /** Milliseconds waited for a connection, summed over every acquire (timed out ones too). */
  waitedMs = 0;
  /** Wait for a connection, in microseconds. */
  readonly acquireWait = new Histogram({ lowest: 1, highest: 3.6e9, precision: 0.01 });
  readonly #clock: Clock;
  #lastSaturationAt: number;
  #lastWaitedMs = 0;

  constructor(clock: Clock) {
    this.#clock = clock;
    this.#lastSaturationAt = clock.now();
  }

  /** Records a connection handed out (or failed) after `waitMs`. */
  recordWait(waitMs: number): void {
    this.waitedMs += waitMs;
    this.acquireWait.record(waitMs * 1000);
  }

  /** The metrics of `pool` now; starts a new saturation window. */
  snapshot(pool: PoolState, leaked: number): PoolMetrics {
    const now = this.#clock.now();
    const elapsed = now - this.#lastSaturationAt;
    const saturation = elapsed > 0 ? (this.waitedMs - this.#lastWaitedMs) / elapsed : 0;
    this.#lastSaturationAt = now;
    this.#lastWaitedMs = this.waitedMs;
    const h = this.acquireWait;
    const empty = h.count === 0;
    return {
      total: pool.totalCount,
      idle: pool.idleCount,
      inUse: pool.totalCount - pool.idleCount,
      waiting: pool.waitingCount,
      max: pool.options.max ?? 10,
      acquires: this.acquires,
      acquireTimeouts: this.acquireTimeouts,
      acquireErrors: this.acquireErrors,
      queryErrors: this.queryErrors,
      idleErrors: this.idleErrors,
      acquireWaitMs: {
        count: h.count,
        mean: empty ? 0 : h.mean / 1000,
        p50: empty ? 0 : h.percentile(50) / 1000,
        p99: empty ? 0 : h.percentile(99) / 1000,
        max: empty ? 0 : h.max / 1000,
      },
      saturation,
      leaked,
    };
  }
}
