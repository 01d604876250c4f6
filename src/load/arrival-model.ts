/**
 * The strategy point of the load engine: how requests arrive. The engine core owns the
 * connections, the request source, the statistics, warm-up, timeouts and the end of the run;
 * an {@link ArrivalModel} decides when each request is sent and which connection carries it.
 *
 * - `OpenModel` (open-model.ts): arrivals at a rate, each request with an intended send time
 *   fixed by the schedule alone; latency counts from it (no coordinated omission).
 * - `ClosedModel` (closed-model.ts): N connections, each sending its next request when a
 *   response arrives; coordinated omission is estimated afterwards.
 *
 * The engine picks one when it is built and calls it at these few points only.
 */
import type { Connection } from './connection.js';
import type { ResolvedOptions } from './options.js';
import type { LatencySummary, LoadResult } from './result.js';
import type { Stats } from './stats.js';

/** What an arrival model may ask of the engine core. */
export interface EngineCore {
  readonly options: ResolvedOptions;
  readonly stats: Stats;
  /** Sending: between the start and the stop (duration, request count or abort). */
  readonly isRunning: boolean;
  /** Stopped, letting requests already sent (or due) finish. */
  readonly isStopping: boolean;
  /** Past the warm-up: what happens now is counted. */
  readonly isMeasuring: boolean;
  /** Requests handed to connections so far, warm-up included. */
  readonly sent: number;
  /** Connections open or opening. */
  readonly connectionCount: number;
  /** Opens one more connection to the target. */
  openConnection(): Connection;
  /** Sends the next request of the source on `conn`, intended at `intended`, sent at `now`. */
  send(conn: Connection, intended: number, now: number): void;
  /** Requests in flight on every connection. */
  inflightTotal(): number;
  /**
   * Counts a request that waited for a connection longer than the timeout, never sent, as a
   * timeout under the name it would have had.
   */
  failUnsent(): void;
  /** Ends the run: `drain` lets requests already due finish first. */
  stop(drain: boolean): void;
  /** Ends a drain once nothing is in flight or waiting. */
  checkDrained(): void;
  /** Runs `fn` after `delayMs` unless the run ends first. */
  later(fn: () => void, delayMs: number): void;
}

/** The generator's own figures a model keeps (see `LoadResult.generator`). */
export interface SendStats {
  lateSends: number;
  sendLagP99: number;
  waitedForConnection: number;
}

/** One way requests arrive: the operations the engine core calls. */
export interface ArrivalModel {
  /** Starts sending; `t0` is the run's start (`performance.now()`). */
  start(t0: number): void;
  /** Warm-up has ended: forget what the model counted so far. */
  beginMeasuring(): void;
  /** `conn` answered a request at `now` and may take another. */
  onResponse(conn: Connection, now: number): void;
  /** A response was counted: `stats` now holds it. */
  onMeasuredResponse(stats: Stats): void;
  /** A measured second ended. */
  onSecond(stats: Stats): void;
  /** `conn` closed (refused, reset or timed out) while running or stopping. */
  onClose(conn: Connection): void;
  /** The run stops: no more sends of its own. */
  stop(): void;
  /** Requests due but not yet sent (waiting for a connection). */
  readonly backlog: number;
  /** Drops the requests still waiting at the end; returns how many there were. */
  dropBacklog(): number;
  /** The target arrival rate `elapsedMs` after the start, or null without one. */
  targetRate(elapsedMs: number): number | null;
  /** Lateness of the sends against their intended times. */
  sendStats(): SendStats;
  /**
   * The latency from the actual send and the coordinated-omission estimate, given the latency
   * from the intended send (`latency`, a summary of `stats.intended`).
   */
  latencyResult(
    stats: Stats,
    latency: LatencySummary,
  ): Pick<LoadResult, 'actualLatency' | 'coordinatedOmission'>;
}
