import { performance } from 'node:perf_hooks';
import type { ArrivalModel, EngineCore, SendStats } from './arrival-model.js';
import type { Connection } from './connection.js';
import { coordinatedOmission } from './health.js';
import type { LatencySummary, LoadResult } from './result.js';
import type { Stats } from './stats.js';

/** A refused connection is retried after this pause, not in a tight loop. */
const RECONNECT_MS = 50;
/** Responses after which the expected interval (for the coordinated-omission estimate) is set. */
const SEED_RESPONSES = 200;

/**
 * Closed model: `connections` connections, each sending its next request when a response
 * arrives (`pipelining` requests in flight each). Every request is sent when it is created,
 * so latency counts from the actual send; what a stalled server hides (coordinated omission)
 * is estimated from the median interval afterwards.
 */
export class ClosedModel implements ArrivalModel {
  readonly #core: EngineCore;
  readonly #pipelining: number;
  readonly #requests: number;

  constructor(core: EngineCore) {
    this.#core = core;
    this.#pipelining = core.options.pipelining;
    this.#requests = core.options.requests;
  }

  start(): void {
    for (let i = 0; i < this.#core.options.connections; i++) this.#open();
  }

  beginMeasuring(): void {}

  onResponse(conn: Connection, now: number): void {
    const core = this.#core;
    if (core.isRunning) this.#fill(conn, now);
    else if (core.isStopping) core.checkDrained();
  }

  onMeasuredResponse(s: Stats): void {
    if (s.expectedIntervalUs === 0 && s.completed === SEED_RESPONSES) {
      s.expectedIntervalUs = s.intended.percentile(50);
    }
  }

  onSecond(s: Stats): void {
    if (s.intended.count > 0) s.expectedIntervalUs = s.intended.percentile(50);
  }

  onClose(conn: Connection): void {
    const core = this.#core;
    if (!core.isRunning) return;
    if (conn.isConnected) this.#open();
    else
      core.later(() => {
        if (core.isRunning) this.#open();
      }, RECONNECT_MS);
  }

  stop(): void {}

  get backlog(): number {
    return 0;
  }

  dropBacklog(): number {
    return 0;
  }

  targetRate(): null {
    return null;
  }

  sendStats(): SendStats {
    return { lateSends: 0, sendLagP99: 0, waitedForConnection: 0 };
  }

  latencyResult(
    s: Stats,
    latency: LatencySummary,
  ): Pick<LoadResult, 'actualLatency' | 'coordinatedOmission'> {
    // Sent when created: the latency from the intended send is the latency from the send.
    const corrected = s.corrected();
    return {
      actualLatency: latency,
      coordinatedOmission: coordinatedOmission(
        latency.percentiles['99']!,
        Math.round(corrected.percentile(99)),
        Math.round(corrected.percentile(99.9)),
      ),
    };
  }

  #open(): void {
    this.#fill(this.#core.openConnection(), performance.now());
  }

  /** Sends on `conn` until its pipeline is full or the request count is reached. */
  #fill(conn: Connection, now: number): void {
    const core = this.#core;
    while (
      core.isRunning &&
      !conn.isClosed &&
      conn.inflight < this.#pipelining &&
      core.sent < this.#requests
    ) {
      core.send(conn, now, now);
    }
    if (core.isRunning && core.sent >= this.#requests && core.inflightTotal() === 0) {
      core.stop(true);
    }
  }
}
