import { channel } from 'node:diagnostics_channel';
import { monotonicClock, type Clock } from '../internal/clock.js';
import { checkNumber } from '../internal/validate-options.js';
import { InvalidOptionError } from '../errors/index.js';
import { EventLoopSampler, type LoopSampler } from './shed-sampler.js';

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
   * Event-loop stall (the longest in a sample interval) above which the process counts as
   * overloaded, in ms. At this delay shedding starts; at twice it, every sheddable request is
   * shed at once. @defaultValue 50
   */
  delayThresholdMs?: number;
  /**
   * Event-loop utilization (busy share of a sample interval) above which the process counts
   * as overloaded, in (0, 1]; 1 turns the check off. @defaultValue 0.9
   */
  utilizationThreshold?: number;
  /** How often the loop is sampled and the shed probabilities recomputed, in ms. @defaultValue 100 */
  sampleIntervalMs?: number;
  /** Length of the recent window that {@link LoadShedder.stats} reports, in ms. @defaultValue 1000 */
  windowMs?: number;
  /**
   * How fast the shed fraction follows the overload, per second: it moves by
   * `gain * (pressure - 1)` per second, `pressure` being the larger of delay/threshold and
   * utilization/threshold. @defaultValue 2
   */
  gain?: number;
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
 * Each sample gives a pressure: the larger of the longest event-loop stall over
 * `delayThresholdMs` and the utilization over `utilizationThreshold` (1 = at the threshold).
 * A controller turns it into the shed *level*, the share of traffic to refuse:
 * - integral part: it moves by `gain * (pressure - 1)` per second (clamped to ±1 per
 *   second of pressure error), so it settles where the pressure sits at its threshold: the
 *   loop busy `utilizationThreshold` of the time, or stalling `delayThresholdMs`, whichever
 *   binds, however much traffic that takes (utilization saturates at 1, so a proportional
 *   rule alone could not find the level a 2x overload needs);
 * - proportional floor: the level is at least linear in the stall, from 0 at
 *   `delayThresholdMs` to 1 at twice it, so a long stall sheds the next requests at once.
 *   The floor holds for one interval and does not feed the integral, so a lone stall (a GC
 *   pause, the process descheduled) sheds for `sampleIntervalMs`, not for seconds.
 *
 * The level is spread over priorities from `low` up, in proportion to the share of recent
 * requests of each priority: at level 0.3 with 20% `low` and 80% `normal` traffic, every `low`
 * request and an eighth of the `normal` ones are shed. Shedding stops when the level is 0.
 *
 * ```
 *  level 1 |         ____________              critical
 *          |        /                          high
 *          |       /     <- floor: 0 at T, 1 at 2T      normal
 *          |______/                            low     (filled from the bottom)
 *          +------T-----2T------ stall
 * ```
 * @example
 * const shedder = new LoadShedder({ delayThresholdMs: 50, utilizationThreshold: 0.9 });
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
  readonly #sampler: LoopSampler;
  readonly #ownsSampler: boolean;
  readonly #random: () => number;
  readonly #clock: Clock;
  readonly #name: string;
  readonly #timer: NodeJS.Timeout;

  #isShedding = false;
  #level = 0;
  #integral = 0;
  /** Shed probability by priority index; read by every decision while shedding. */
  readonly #probability = new Float64Array(4);
  readonly #decisions = new Float64Array(4);
  readonly #shares = Float64Array.from(EVEN_SHARES);
  readonly #shed = new Float64Array(4);
  readonly #windowDelay: Float64Array;
  readonly #windowUtilization: Float64Array;
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
      options.utilizationThreshold ?? 0.9,
      { min: Number.MIN_VALUE, max: 1 },
    );
    this.#intervalMs = checkNumber('sampleIntervalMs', options.sampleIntervalMs ?? 100, {
      min: 1,
    });
    this.#windowMs = checkNumber('windowMs', options.windowMs ?? 1000, {
      min: this.#intervalMs,
    });
    this.#gain = checkNumber('gain', options.gain ?? 2, { min: Number.MIN_VALUE });
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
    this.#ownsSampler = options.sampler === undefined;
    this.#sampler = options.sampler ?? new EventLoopSampler({ intervalMs: this.#intervalMs });
    this.#lastUpdate = this.#clock.now();
    this.#timer = setInterval(() => this.update(), this.#intervalMs);
    this.#timer.unref();
  }

  /** Whether any request may be shed now (the cheap check before {@link shouldShed}). */
  get isShedding(): boolean {
    return this.#isShedding;
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
    if (!this.#isShedding) return false;
    const k = typeof priority === 'number' ? priority : PRIORITY_INDEX[priority];
    this.#decisions[k]!++;
    const p = this.#probability[k]!;
    if (p === 0 || (p < 1 && this.#random() >= p)) return false;
    this.#shed[k]!++;
    return true;
  }

  /**
   * Samples the loop and recomputes the level and the shed probabilities. The internal timer
   * calls it every `sampleIntervalMs`; public so tests can drive the shedder step by step.
   */
  update(): void {
    if (this.#isClosed) return;
    const now = this.#clock.now();
    const dtSeconds = Math.max(0, now - this.#lastUpdate) / 1000;
    this.#lastUpdate = now;
    const { delayMs, utilization } = this.#sampler.sample();
    this.#windowDelay[this.#windowNext] = delayMs;
    this.#windowUtilization[this.#windowNext] = utilization;
    this.#windowNext = (this.#windowNext + 1) % this.#windowDelay.length;
    if (this.#windowCount < this.#windowDelay.length) this.#windowCount++;

    const delayRatio = delayMs / this.#delayThresholdMs;
    const pressure = Math.max(delayRatio, utilization / this.#utilizationThreshold);
    const error = Math.min(1, Math.max(-1, pressure - 1));
    const floor = Math.min(1, Math.max(0, delayRatio - 1));
    const integral = Math.min(1, Math.max(0, this.#integral + this.#gain * error * dtSeconds));
    this.#integral = integral < 1e-6 ? 0 : integral;
    // The floor does not feed the integral: one stall (a GC pause, the process descheduled)
    // sheds for one interval, not until the integral has decayed from 1.
    this.#level = Math.max(this.#integral, floor);
    this.#updateShares();
    this.#updateProbabilities();
    const isShedding = this.#level > 0;
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
    for (let i = 0; i < this.#windowCount; i++) {
      delayMs = Math.max(delayMs, this.#windowDelay[i]!);
      busy += this.#windowUtilization[i]!;
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
