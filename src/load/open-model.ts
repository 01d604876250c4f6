import { performance } from 'node:perf_hooks';
import type { ArrivalModel, EngineCore, SendStats } from './arrival-model.js';
import type { Connection } from './connection.js';
import { rateAt, Schedule } from './options.js';
import type { LatencySummary, LoadResult } from './result.js';
import { latencyHistogram, type Stats, summarize } from './stats.js';
import { TimeQueue } from './time-queue.js';

/** Sends later than this after their intended time count as late (the generator fell behind). */
const LATE_MS = 5;
/**
 * Node's timers have 1 ms resolution and fire late, never early: a request due within this
 * window goes out on the current tick, up to this much before its intended time, so the
 * schedule is centred on the intended times instead of trailing them by about a millisecond.
 * Its latency then counts from the actual send (never from a time before it).
 */
const EARLY_MS = 1;

/**
 * Open model: request k has an intended send time fixed by the arrival rate alone. A timer
 * (never a busy loop) wakes at the next intended time and sends every request that is due. A
 * request that finds every connection busy waits in a queue and keeps its intended time, so
 * its latency includes the wait: a stalled server shows up in the percentiles instead of
 * silently slowing the generator down (coordinated omission).
 */
export class OpenModel implements ArrivalModel {
  readonly #core: EngineCore;
  readonly #schedule: Schedule;
  /** Free connections, the most recently freed last. */
  readonly #idle: Connection[] = [];
  /** Intended times of requests due that wait for a connection, oldest first. */
  readonly #pending = new TimeQueue();
  /** How late sends went out against their intended times, in microseconds. */
  readonly #lag = latencyHistogram();
  #t0 = 0;
  /** Intended time of the next scheduled request, and its index. */
  #next = 0;
  #k = 0;
  /** Requests the schedule has produced (sent or waiting). */
  #dispatched = 0;
  #lateSends = 0;
  #waited = 0;
  #tick: NodeJS.Timeout | null = null;

  constructor(core: EngineCore) {
    this.#core = core;
    this.#schedule = new Schedule(core.options);
  }

  start(t0: number): void {
    this.#t0 = t0;
    this.#next = t0 + this.#schedule.at(0);
    this.#onTick();
  }

  beginMeasuring(): void {
    this.#lag.reset();
    this.#lateSends = 0;
    this.#waited = 0;
  }

  onResponse(conn: Connection, now: number): void {
    this.#release(conn, now);
  }

  onMeasuredResponse(): void {}

  onSecond(): void {}

  onClose(_conn: Connection): void {
    if (this.#pending.size > 0) this.#release(this.#core.openConnection());
  }

  stop(): void {
    if (this.#tick !== null) clearTimeout(this.#tick);
  }

  get backlog(): number {
    return this.#pending.size;
  }

  dropBacklog(): number {
    const n = this.#pending.size;
    this.#pending.clear();
    return n;
  }

  targetRate(elapsedMs: number): number {
    return rateAt(this.#core.options, elapsedMs);
  }

  sendStats(): SendStats {
    return {
      lateSends: this.#lateSends,
      sendLagP99: this.#lag.percentile(99),
      waitedForConnection: this.#waited,
    };
  }

  latencyResult(
    s: Stats,
    _latency: LatencySummary,
  ): Pick<LoadResult, 'actualLatency' | 'coordinatedOmission'> {
    // Latency already counts from the intended send: nothing is omitted to estimate.
    return { actualLatency: summarize(s.actual), coordinatedOmission: null };
  }

  #onTick(): void {
    this.#tick = null;
    const core = this.#core;
    if (!core.isRunning) return;
    const requests = core.options.requests;
    const now = performance.now();
    while (this.#next <= now + EARLY_MS && core.isRunning) {
      if (this.#dispatched >= requests) {
        core.stop(true);
        return;
      }
      this.#dispatch(this.#next, now);
      this.#next = this.#t0 + this.#schedule.at(++this.#k);
    }
    // A schedule that has ended (a ramp down to 0) waits for the duration timer.
    if (core.isRunning && Number.isFinite(this.#next)) {
      const wait = this.#next - EARLY_MS - performance.now();
      this.#tick = setTimeout(() => this.#onTick(), Math.max(0, Math.floor(wait)));
    }
  }

  #dispatch(intended: number, now: number): void {
    const core = this.#core;
    this.#dispatched++;
    let conn = this.#idle.pop();
    while (conn !== undefined && conn.isClosed) conn = this.#idle.pop();
    if (conn === undefined && core.connectionCount < core.options.connections)
      conn = core.openConnection();
    if (conn === undefined) {
      this.#pending.push(intended);
      if (core.isMeasuring) this.#waited++;
      return;
    }
    const lag = now - intended;
    if (core.isMeasuring) {
      this.#lag.record(Math.max(0, lag) * 1000);
      if (lag > LATE_MS) this.#lateSends++;
    }
    core.send(conn, intended, now);
  }

  /** A connection is free: give it the oldest waiting request, if any. */
  #release(conn: Connection, now = performance.now()): void {
    if (conn.isClosed) return;
    const core = this.#core;
    while (this.#pending.size > 0) {
      const intended = this.#pending.shift();
      if (now - intended > core.options.timeoutMs) {
        // Waited longer than the timeout before it could even be sent.
        core.failUnsent();
        continue;
      }
      core.send(conn, intended, now);
      return;
    }
    this.#idle.push(conn);
    if (core.isStopping) core.checkDrained();
  }
}
