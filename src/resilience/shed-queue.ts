import { performance } from 'node:perf_hooks';
import { monotonicClock, type Clock } from '../internal/clock.js';

/** Idle time (ms) below which the loop counts as not having waited for I/O between two turns. */
const IDLE_EPSILON_MS = 0.5;

/** The process's CPU time so far (user + system, every thread), in ms. */
function processCpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

/** Where {@link LoopWait} reads time: wall clock, idle time and CPU time, each in ms. */
export interface LoopWaitClocks {
  clock?: Clock;
  idleMs?: () => number;
  cpuMs?: () => number;
}

/**
 * How long a request being decided now may have waited for the event loop: the age of the
 * loop turn that handles it, plus the previous turn's when the loop went on without idling
 * (its requests arrived while the previous turn ran). One `setImmediate` per loop turn that
 * decides a request marks the turn's end, and one event-loop-utilization read (and one
 * `process.cpuUsage()`) per turn tells whether the loop idled since; each decision in the
 * turn then reads the clock once.
 *
 * In own time ({@link LoopWait.ownWaitMs}), the previous turn counts for the CPU time the
 * process used since it began (the work ahead of the request; at most the wall time), and the
 * current turn's age is scaled by the share of its busy time the process ran: time other
 * processes held the CPU is not a queue of the process's own.
 *
 * ```
 *  poll        turn k-1 (busy)      | check | turn k: req a, req b ... | check |
 *  arrivals      ^ x arrives here                ^ x decided: waited <= now - start(k-1)
 * ```
 */
export class LoopWait {
  readonly #clock: Clock;
  readonly #idleMs: () => number;
  readonly #cpuMs: () => number;
  #isOpen = false;
  #turnStart = 0;
  #cpuAtTurnStart = 0;
  /** Wall time from the previous turn's start to this turn's, when the loop did not idle. */
  #carriedWallMs = 0;
  /** CPU time the process used over that span (at most the wall time). */
  #carriedCpuMs = 0;
  #lastTurnStart = Number.NEGATIVE_INFINITY;
  #cpuAtLastTurnStart = 0;
  #idleAtLastEnd = Number.NEGATIVE_INFINITY;
  readonly #endTurn = (): void => {
    this.#isOpen = false;
    this.#lastTurnStart = this.#turnStart;
    this.#cpuAtLastTurnStart = this.#cpuAtTurnStart;
    this.#idleAtLastEnd = this.#idleMs();
  };

  /**
   * @param clocks `clock` (ms; default `performance.now()`), `idleMs` (the loop's idle time so
   * far; default from `performance.eventLoopUtilization()`), `cpuMs` (the process's CPU time
   * so far; default from `process.cpuUsage()`).
   */
  constructor(clocks: LoopWaitClocks = {}) {
    this.#clock = clocks.clock ?? monotonicClock;
    this.#idleMs = clocks.idleMs ?? (() => performance.eventLoopUtilization().idle);
    this.#cpuMs = clocks.cpuMs ?? processCpuMs;
  }

  /** The longest a request decided now may have waited for the loop, in wall-clock ms. */
  waitMs(): number {
    const now = this.#open();
    return this.#carriedWallMs + (now - this.#turnStart);
  }

  /**
   * The part of that wait spent on the process's own work, in ms: the CPU time it used since
   * the previous turn began (when the loop did not idle), plus this turn's age times
   * `ranShare`, the share of the loop's busy time the process ran lately (0 to 1).
   */
  ownWaitMs(ranShare: number): number {
    const now = this.#open();
    return this.#carriedCpuMs + (now - this.#turnStart) * ranShare;
  }

  /** Opens a turn on its first decision; returns the time now. */
  #open(): number {
    const now = this.#clock.now();
    if (this.#isOpen) return now;
    this.#isOpen = true;
    setImmediate(this.#endTurn);
    const cpu = this.#cpuMs();
    // Without idling since the last turn, this turn's requests arrived while it ran.
    const hasIdled = this.#idleMs() - this.#idleAtLastEnd > IDLE_EPSILON_MS;
    if (hasIdled) {
      this.#carriedWallMs = 0;
      this.#carriedCpuMs = 0;
    } else {
      this.#carriedWallMs = now - this.#lastTurnStart;
      this.#carriedCpuMs = Math.min(this.#carriedWallMs, cpu - this.#cpuAtLastTurnStart);
    }
    this.#turnStart = now;
    this.#cpuAtTurnStart = cpu;
    return now;
  }
}
