import { channel } from 'node:diagnostics_channel';
import { monotonicClock, type Clock } from '../internal/clock.js';
import { coarseClock } from '../internal/coarse-clock.js';
import { checkNumber } from '../internal/validate-options.js';
import { InvalidOptionError } from '../errors/index.js';
import { LoopWait } from './shed-queue.js';
import { EventLoopSampler, type LoopSampler } from './shed-sampler.js';

/**
 * The clock of the queue rule's per-request wait: `performance.now()`, cached while decisions
 * come within a millisecond of each other (as they do while shedding), so a decision costs a
 * field read rather than a clock call. A wait is then off by under a millisecond, against a
 * target of tens of milliseconds.
 */
const queueClock: Clock = coarseClock(() => performance.now());

/**
 * How much a request matters when the process is overloaded: at any overload, `low` is shed
 * before `normal`, `normal` before `high`, `high` before `critical`.
 */
export type ShedPriority = 'critical' | 'high' | 'normal' | 'low';

/** The priorities, from the first shed to the last. */
export const SHED_PRIORITIES: readonly ShedPriority[] = Object.freeze([
  'low',
  'normal',
  'high',
  'critical',
]);

/** Options of {@link LoadShedder}. */
export interface LoadShedderOptions {
  /**
   * Event-loop stall (the longest in a sample interval, of the process's own making: see
   * `shouldDiscountStarvation`) above which the process counts as overloaded, in ms. Above it
   * the level rises; at twice it, every sheddable request is shed for one interval.
   * @defaultValue 50
   */
  delayThresholdMs?: number;
  /**
   * Event-loop utilization (busy share of a sample interval, of the process's own CPU: see
   * `shouldDiscountStarvation`) the controller holds the loop at, in (0, 1]; 1 turns the check
   * off. Below saturation, so that admitted requests find the loop free rather than queue.
   * @defaultValue 0.85
   */
  utilizationThreshold?: number;
  /**
   * Longest a `normal` request may have waited for the event loop (the age of the loop turn
   * handling it, plus the previous turn's when the loop did not idle in between) before it is
   * shed at once, in ms; `low` requests wait at most half of it, `high` ones twice, `critical`
   * ones are never shed by this rule. Checked per request while the loop is at least half busy,
   * so admitted requests find a short queue even when the traffic changes faster than the
   * sampled controller follows; with `shouldDiscountStarvation`, a wait is counted in the
   * process's own time (CPU time it used, not time other processes held the CPU). 0 turns the
   * rule off. @defaultValue 20
   */
  queueDelayTargetMs?: number;
  /** How often the loop is sampled and the shed probabilities recomputed, in ms. @defaultValue 100 */
  sampleIntervalMs?: number;
  /** Length of the recent window that {@link LoadShedder.stats} reports, in ms. @defaultValue 1000 */
  windowMs?: number;
  /**
   * How fast the shed level follows the overload, per second: it moves by `gain * error` per
   * second, `error` in [-1, 1] being the larger of the stall's (`stall / delayThresholdMs - 1`)
   * and the utilization's (`(u - threshold) / (1 - threshold)` above the threshold, so a
   * saturated loop is an error of 1; `u / threshold - 1` below it). @defaultValue 2
   */
  gain?: number;
  /**
   * Judge the loop by the CPU time the process got (the sampler's `cpuUtilization`) rather than
   * by wall time alone: the utilization counted is at most the CPU share, and a stall is
   * scaled by the share of the loop's busy time the process ran and capped at the CPU time it
   * used in the interval. A loop slowed because other processes hold the CPU then reads as
   * starved, not overloaded, and is not shed for. `false` reads wall time only.
   * @defaultValue true
   */
  shouldDiscountStarvation?: boolean;
  /** Where the loop's state comes from. @defaultValue a new {@link EventLoopSampler} */
  sampler?: LoopSampler;
  /** Random source in [0, 1). @defaultValue `Math.random` */
  random?: () => number;
  clock?: Clock;
  /** Name in diagnostics messages. @defaultValue `'shedder'` */
  name?: string;
}

/** What a {@link LoadShedder} is doing, for metrics and dashboards. */
export interface LoadShedderStats {
  /** Whether requests are being shed now. */
  isShedding: boolean;
  /** Target share of the sheddable traffic to shed now, 0 to 1. */
  level: number;
  /** Probability that a request of each priority is shed now. */
  probability: Record<ShedPriority, number>;
  /** Requests shed since construction, by priority. */
  shed: Record<ShedPriority, number>;
  /** The longest event-loop stall in the recent window, in ms. */
  delayMs: number;
  /** Event-loop utilization over the recent window, 0 to 1. */
  utilization: number;
  /**
   * The process's own share of it over the recent window, 0 to 1: the utilization the
   * controller judges (at most the process's CPU share when starvation is discounted).
   */
  ownUtilization: number;
  /** Length of the recent window, in ms. */
  windowMs: number;
}

/** Published on `hotpath:resilience:shed` when shedding starts or stops. */
export interface ShedStateChange {
  name: string;
  isShedding: boolean;
  level: number;
  delayMs: number;
  utilization: number;
}

const shedChannel = channel('hotpath:resilience:shed');

const PRIORITY_INDEX: Readonly<Record<ShedPriority, number>> = Object.freeze({
  low: 0,
  normal: 1,
  high: 2,
  critical: 3,
});

/**
 * The index of a priority (0 = `low`, shed first), for the integer form of
 * {@link LoadShedder.shouldShed}.
 * @throws {@link InvalidOptionError} `HP_ERR_INVALID_OPTION` for an unknown priority.
 */
export function priorityIndex(priority: ShedPriority, option = 'priority'): number {
  const index = PRIORITY_INDEX[priority];
  if (index === undefined || !Object.hasOwn(PRIORITY_INDEX, priority)) {
    throw new InvalidOptionError(
      option,
      `expected one of critical, high, normal, low, got ${JSON.stringify(priority)}`,
    );
  }
  return index;
}

/** The queue-delay target of each priority index, as a multiple of `queueDelayTargetMs`. */
const QUEUE_FACTOR = [0.5, 1, 2, Number.POSITIVE_INFINITY];
/** Loop utilization from which the queue rule watches every request (queues start to form). */
const ARM_UTILIZATION = 0.5;

/** Share of decisions of each priority, before any are seen: as if equally common. */
const EVEN_SHARES = [0.25, 0.25, 0.25, 0.25];
/** Weight of the newest interval's decisions in the priority shares. */
const SHARE_WEIGHT = 0.3;

/**
 * Decides, per request, whether to refuse it at once because the process is overloaded, so
 * that the requests it keeps are served in time instead of all being served late. The loop
 * is sampled on a timer (every `sampleIntervalMs`); the per-request decision is a field read
 * when not overloaded, and an array read plus one random draw when it is.
 *
 * Each sample gives two errors, each in [-1, 1], 0 at its threshold:
 * - utilization: the loop's busy share `u` against `utilizationThreshold` `t`, scaled to the
 *   headroom on each side: `(u - t) / (1 - t)` above it (a saturated loop is 1 however far
 *   past saturation the traffic is), `u / t - 1` below it;
 * - stall: the longest event-loop stall over `delayThresholdMs`, less 1.
 *
 * By default both are of the process's own making: `u` is at most the CPU share the process
 * got (`process.cpuUsage()` against wall time), and a stall is scaled by the share of the
 * loop's busy time the process ran and capped at the CPU time it used, so a loop slowed by
 * other processes holding the CPU (busy in wall time, idle in CPU time) is not shed for.
 *
 * A controller turns the larger error into the shed *level*, the share of traffic to refuse:
 * - integral part: it moves by `gain * error` per second, so it settles where the loop is
 *   busy `utilizationThreshold` of the time (or stalls `delayThresholdMs`), however much
 *   traffic that takes: the loop is held below saturation, where admitted requests find it
 *   free instead of queueing, and a saturated loop raises the level at full speed;
 * - proportional floor: the level is at least linear in the stall, from 0 at
 *   `delayThresholdMs` to 1 at twice it, so a long stall sheds the next requests at once.
 *   The floor holds for one interval and does not feed the integral, so a lone stall (a GC
 *   pause) sheds for `sampleIntervalMs`, not for seconds.
 *
 * The level is spread over priorities from `low` up, in proportion to the share of recent
 * requests of each priority: at level 0.3 with 20% `low` and 80% `normal` traffic, every `low`
 * request and an eighth of the `normal` ones are shed. Shedding stops when the level is 0.
 *
 * Between samples, a queue rule (CoDel's idea on the event loop) judges each request while the
 * loop is at least half busy: one that has waited for the loop longer than
 * `queueDelayTargetMs` (half of it for `low`, twice for `high`, never for `critical`) is shed
 * at once, its wait counted in the process's own time by default.
 *
 * ```
 *  level 1 |         ____________              critical
 *          |        /                          high
 *          |       /     <- floor: 0 at T, 1 at 2T      normal
 *          |______/                            low     (filled from the bottom)
 *          +------T-----2T------ stall
 * ```
 * @example
 * const shedder = new LoadShedder({ delayThresholdMs: 50, utilizationThreshold: 0.85 });
 * if (shedder.shouldShed('low')) return respond503();
 * // on shutdown
 * await shedder.close();
 */
export class LoadShedder {
  readonly #delayThresholdMs: number;
  readonly #utilizationThreshold: number;
  readonly #intervalMs: number;
  readonly #windowMs: number;
  readonly #gain: number;
  readonly #isStarvationDiscounted: boolean;
  readonly #queueTargetMs: number;
  readonly #loopWait: LoopWait;
  readonly #sampler: LoopSampler;
  readonly #ownsSampler: boolean;
  readonly #random: () => number;
  readonly #clock: Clock;
  readonly #name: string;
  readonly #timer: NodeJS.Timeout;

  #isShedding = false;
  /** Whether a request may be shed: the level is above 0, or the queue rule is watching. */
  #mayShed = false;
  #isArmed = false;
  /** Share of the loop's busy time the process ran, last interval (1 when not discounted). */
  #ranShare = 1;
  /** Requests the queue rule shed since the last update. */
  #queueShed = 0;
  #level = 0;
  #integral = 0;
  /** Shed probability by priority index; read by every decision while shedding. */
  readonly #probability = new Float64Array(4);
  readonly #decisions = new Float64Array(4);
  readonly #shares = Float64Array.from(EVEN_SHARES);
  readonly #shed = new Float64Array(4);
  readonly #windowDelay: Float64Array;
  readonly #windowUtilization: Float64Array;
  readonly #windowOwn: Float64Array;
  #windowNext = 0;
  #windowCount = 0;
  #lastUpdate: number;
  #isClosed = false;

  /** @throws {@link InvalidOptionError} `HP_ERR_INVALID_OPTION` naming a bad option. */
  constructor(options: LoadShedderOptions = {}) {
    this.#delayThresholdMs = checkNumber('delayThresholdMs', options.delayThresholdMs ?? 50, {
      min: Number.MIN_VALUE,
    });
    this.#utilizationThreshold = checkNumber(
      'utilizationThreshold',
      options.utilizationThreshold ?? 0.85,
      { min: Number.MIN_VALUE, max: 1 },
    );
    this.#intervalMs = checkNumber('sampleIntervalMs', options.sampleIntervalMs ?? 100, {
      min: 1,
    });
    this.#windowMs = checkNumber('windowMs', options.windowMs ?? 1000, {
      min: this.#intervalMs,
    });
    this.#gain = checkNumber('gain', options.gain ?? 2, { min: Number.MIN_VALUE });
    const discount = options.shouldDiscountStarvation ?? true;
    if (typeof discount !== 'boolean') {
      throw new InvalidOptionError('shouldDiscountStarvation', 'expected a boolean');
    }
    this.#isStarvationDiscounted = discount;
    this.#queueTargetMs = checkNumber('queueDelayTargetMs', options.queueDelayTargetMs ?? 20, {
      min: 0,
    });
    if (options.sampler !== undefined && typeof options.sampler?.sample !== 'function') {
      throw new InvalidOptionError('sampler', 'expected an object with sample() and close()');
    }
    if (options.random !== undefined && typeof options.random !== 'function') {
      throw new InvalidOptionError('random', 'expected a function');
    }
    this.#random = options.random ?? Math.random;
    this.#clock = options.clock ?? monotonicClock;
    this.#name = options.name ?? 'shedder';
    const slots = Math.max(1, Math.round(this.#windowMs / this.#intervalMs));
    this.#windowDelay = new Float64Array(slots);
    this.#windowUtilization = new Float64Array(slots);
    this.#windowOwn = new Float64Array(slots);
    this.#ownsSampler = options.sampler === undefined;
    this.#sampler = options.sampler ?? new EventLoopSampler({ intervalMs: this.#intervalMs });
    this.#lastUpdate = this.#clock.now();
    this.#loopWait = new LoopWait({ clock: options.clock ?? queueClock });
    this.#timer = setInterval(() => this.update(), this.#intervalMs);
    this.#timer.unref();
  }

  /**
   * Whether any request may be shed now (the cheap check before {@link shouldShed}): the level
   * is above 0, or the loop is busy enough for the queue rule to judge each request.
   */
  get isShedding(): boolean {
    return this.#mayShed;
  }

  /** Target share of the traffic to shed now, 0 to 1. */
  get level(): number {
    return this.#level;
  }

  /**
   * Whether to refuse a request of this priority now. Counts the request among its
   * priority's recent traffic and, when it returns true, among the shed ones.
   * @param priority a {@link ShedPriority}, or its index (0 = `low` ... 3 = `critical`).
   */
  shouldShed(priority: ShedPriority | number = 1): boolean {
    if (!this.#mayShed) return false;
    const k = typeof priority === 'number' ? priority : PRIORITY_INDEX[priority];
    this.#decisions[k]!++;
    if (this.#isArmed && this.#waitMs() > this.#queueTargetMs * QUEUE_FACTOR[k]!) {
      this.#shed[k]!++;
      this.#queueShed++;
      return true;
    }
    const p = this.#probability[k]!;
    if (p === 0 || (p < 1 && this.#random() >= p)) return false;
    this.#shed[k]!++;
    return true;
  }

  /** How long the request decided now has waited for the loop: own work only, by default. */
  #waitMs(): number {
    return this.#isStarvationDiscounted
      ? this.#loopWait.ownWaitMs(this.#ranShare)
      : this.#loopWait.waitMs();
  }

  /**
   * Samples the loop and recomputes the level and the shed probabilities. The internal timer
   * calls it every `sampleIntervalMs`; public so tests can drive the shedder step by step.
   */
  update(): void {
    if (this.#isClosed) return;
    const now = this.#clock.now();
    const dtMs = Math.max(0, now - this.#lastUpdate);
    this.#lastUpdate = now;
    const { delayMs, utilization, cpuUtilization } = this.#sampler.sample();
    let ownUtilization = utilization;
    let ownDelayMs = delayMs;
    this.#ranShare = 1;
    if (this.#isStarvationDiscounted && cpuUtilization !== undefined) {
      // Busy wall time without CPU time is time other processes held the CPU: the loop
      // was slow, not overloaded. The share of its busy time the process ran scales the
      // stall, and a stall cannot be of its own making beyond the CPU time it used.
      ownUtilization = Math.min(utilization, cpuUtilization);
      const ranShare = utilization > 0 ? Math.min(1, cpuUtilization / utilization) : 1;
      ownDelayMs = Math.min(delayMs * ranShare, cpuUtilization * dtMs);
      this.#ranShare = ranShare;
    }
    const slot = this.#windowNext;
    this.#windowDelay[slot] = delayMs;
    this.#windowUtilization[slot] = utilization;
    this.#windowOwn[slot] = ownUtilization;
    this.#windowNext = (slot + 1) % this.#windowDelay.length;
    if (this.#windowCount < this.#windowDelay.length) this.#windowCount++;

    const t = this.#utilizationThreshold;
    // Scaled to the headroom on each side, so a saturated loop (utilization cannot read past
    // 1 however far past capacity the traffic is) raises the level at full speed.
    const utilizationError =
      ownUtilization > t ? (ownUtilization - t) / (1 - t) : ownUtilization / t - 1;
    const delayRatio = ownDelayMs / this.#delayThresholdMs;
    const error = Math.min(1, Math.max(-1, utilizationError, delayRatio - 1));
    const floor = Math.min(1, Math.max(0, delayRatio - 1));
    const integral = Math.min(1, Math.max(0, this.#integral + (this.#gain * error * dtMs) / 1000));
    this.#integral = integral < 1e-6 ? 0 : integral;
    // The floor does not feed the integral: one stall (a GC pause) sheds for one interval, not
    // until the integral has decayed from 1.
    this.#level = Math.max(this.#integral, floor);
    this.#updateShares();
    this.#updateProbabilities();
    // Armed on wall time: a starved loop's queue grows too (its waits are scaled, not ignored).
    this.#isArmed = this.#queueTargetMs > 0 && (utilization >= ARM_UTILIZATION || this.#level > 0);
    this.#mayShed = this.#level > 0 || this.#isArmed;
    const isShedding = this.#level > 0 || this.#queueShed > 0;
    this.#queueShed = 0;
    if (isShedding !== this.#isShedding) {
      this.#isShedding = isShedding;
      if (shedChannel.hasSubscribers) {
        shedChannel.publish({
          name: this.#name,
          isShedding,
          level: this.#level,
          delayMs,
          utilization,
        } satisfies ShedStateChange);
      }
    }
  }

  /** The recent figures: level, probabilities, shed counts, delay and utilization. */
  stats(): LoadShedderStats {
    let delayMs = 0;
    let busy = 0;
    let own = 0;
    for (let i = 0; i < this.#windowCount; i++) {
      delayMs = Math.max(delayMs, this.#windowDelay[i]!);
      busy += this.#windowUtilization[i]!;
      own += this.#windowOwn[i]!;
    }
    const byPriority = (values: Float64Array): Record<ShedPriority, number> => ({
      critical: values[3]!,
      high: values[2]!,
      normal: values[1]!,
      low: values[0]!,
    });
    return {
      isShedding: this.#isShedding,
      level: this.#level,
      probability: byPriority(this.#probability),
      shed: byPriority(this.#shed),
      delayMs,
      utilization: this.#windowCount === 0 ? 0 : busy / this.#windowCount,
      ownUtilization: this.#windowCount === 0 ? 0 : own / this.#windowCount,
      windowMs: this.#windowCount * this.#intervalMs,
    };
  }

  /** Stops the timer (and the sampler it made); no request is shed afterwards. */
  async close(): Promise<void> {
    if (this.#isClosed) return;
    this.#isClosed = true;
    clearInterval(this.#timer);
    if (this.#ownsSampler) this.#sampler.close();
    this.#isShedding = false;
    this.#mayShed = false;
    this.#isArmed = false;
    this.#level = 0;
    this.#integral = 0;
    this.#probability.fill(0);
  }

  /** Blends the last interval's decisions by priority into the shares (only while shedding). */
  #updateShares(): void {
    const d = this.#decisions;
    const total = d[0]! + d[1]! + d[2]! + d[3]!;
    if (total === 0) return;
    for (let k = 0; k < 4; k++) {
      this.#shares[k] = (1 - SHARE_WEIGHT) * this.#shares[k]! + (SHARE_WEIGHT * d[k]!) / total;
    }
    d.fill(0);
  }

  /** Spreads the level over priorities from `low` up, by their shares of the traffic. */
  #updateProbabilities(): void {
    let left = this.#level;
    for (let k = 0; k < 4; k++) {
      const share = this.#shares[k]!;
      if (left <= 0) {
        this.#probability[k] = 0;
      } else if (share <= 1e-9 || left >= share) {
        this.#probability[k] = 1;
        left -= share;
      } else {
        this.#probability[k] = left / share;
        left = 0;
      }
    }
    // Rounding: the level is meant to cover all traffic at 1.
    if (this.#level >= 1) this.#probability.fill(1);
  }
}
