import { performance } from 'node:perf_hooks';
import { monotonicClock, type Clock } from '../internal/clock.js';

/** Idle time (ms) below which the loop counts as not having waited for I/O between two turns. */
const IDLE_EPSILON_MS = 0.5;

/**
 * How long a request being decided now may have waited for the event loop: the age of the
 * loop turn that handles it, plus the previous turn's when the loop went on without idling
 * (its requests arrived while the previous turn ran). One `setImmediate` per loop turn that
 * decides a request marks the turn's end, and one event-loop-utilization read per turn tells
 * whether the loop idled since; each decision in the turn then reads the clock once.
 *
 * ```
 *  poll        turn k-1 (busy)      | check | turn k: req a, req b ... | check |
 *  arrivals      ^ x arrives here                ^ x decided: waited <= now - start(k-1)
 * ```
 */
export class LoopWait {
  readonly #clock: Clock;
  readonly #idleMs: () => number;
  #isOpen = false;
  #turnStart = 0;
  #origin = 0;
  #lastTurnStart = Number.NEGATIVE_INFINITY;
  #idleAtLastEnd = Number.NEGATIVE_INFINITY;
  readonly #endTurn = (): void => {
    this.#isOpen = false;
    this.#lastTurnStart = this.#turnStart;
    this.#idleAtLastEnd = this.#idleMs();
  };

  /**
   * @param clock time in ms. @defaultValue `performance.now()`
   * @param idleMs the loop's idle time so far, in ms. @defaultValue from
   * `performance.eventLoopUtilization()`
   */
  constructor(
    clock: Clock = monotonicClock,
    idleMs = () => performance.eventLoopUtilization().idle,
  ) {
    this.#clock = clock;
    this.#idleMs = idleMs;
  }

  /** The longest a request decided now may have waited for the loop, in ms. */
  waitMs(): number {
    const now = this.#clock.now();
    if (!this.#isOpen) {
      this.#isOpen = true;
      setImmediate(this.#endTurn);
      this.#turnStart = now;
      // Without idling since the last turn, this turn's requests arrived while it ran.
      const hasIdled = this.#idleMs() - this.#idleAtLastEnd > IDLE_EPSILON_MS;
      this.#origin = hasIdled ? now : this.#lastTurnStart;
    }
    return now - this.#origin;
  }
}
