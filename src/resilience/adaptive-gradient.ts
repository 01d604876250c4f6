import { checkNumber } from '../internal/validate-options.js';
import type { LimitAlgorithm, LimitSample } from './adaptive-limit.js';
import { MinWindow } from './adaptive-min-window.js';

/** Options of {@link GradientLimit}. */
export interface GradientLimitOptions {
  /** Limit before any sample. @defaultValue 20 */
  initialLimit?: number;
  /** The limit never goes below this. @defaultValue 4 */
  minLimit?: number;
  /** The limit never goes above this. @defaultValue 1000 */
  maxLimit?: number;
  /**
   * A round whose mean latency is above `tolerance` times the baseline shrinks the limit;
   * at most halfway there (1.25 by default) it may grow; between, it holds. @defaultValue 1.5
   */
  tolerance?: number;
  /**
   * How long the baseline (the best recent round) is remembered, in ms: a latency that rose
   * for good (a slower dependency) becomes the new baseline after this long. @defaultValue 5000
   */
  baselineWindowMs?: number;
  /** Fresh latency samples a round needs before it may end. @defaultValue 8 */
  roundSamples?: number;
  /** Factor applied to the limit after a round with a drop (timeout, overload). @defaultValue 0.75 */
  backoffRatio?: number;
}

/** In-flight at or above this share of the limit means the limit is used (it may grow). */
const USED_RATIO = 0.8;
/** A round ends after this long even with fewer than `roundSamples` samples. */
const MAX_ROUND_MS = 1000;

/**
 * A gradient concurrency limit in the manner of Netflix's concurrency-limits, judged per
 * *round* (about one round trip): the mean latency of the round's calls is compared with the
 * *baseline*, the lowest round mean of the last `baselineWindowMs` (a windowed minimum: it
 * forgets, so it can rise again, but only from a round with no more calls in flight than the
 * old baseline's (+10%), or at `minLimit`: a rise at higher concurrency may be a queue).
 *
 * - mean > `tolerance` x baseline: calls are queueing somewhere. The limit becomes the
 *   round's peak in-flight x baseline/mean (at least half of it): by Little's law, the
 *   concurrency the dependency served without queueing.
 * - mean at most halfway to the tolerance (1.25 x baseline by default) and in-flight at 80%
 *   of the limit or more (the limit is *used*): it grows, doubling per round until the first
 *   shrink (slow start), then by sqrt(limit) per round. Between the two bounds it holds.
 * - otherwise it stays: an unused limit never grows (Netflix's Gradient2 grows without bound
 *   under modest overload).
 * - a round with a drop multiplies it by `backoffRatio`.
 * - a slower dependency is not a queue: when a shrink cut the peak in flight by a quarter or
 *   more and the next round is no faster (within 10%), the latency is the dependency's own,
 *   and that round's mean becomes the baseline at once (rather than after
 *   `baselineWindowMs`) and slow start resumes, so a brownout does not pin the limit to
 *   `minLimit`.
 *
 * A round counts only calls that started after the limit last changed, so a change is judged
 * by its own effect, one round trip later. There is no probe window: the baseline is
 * refreshed by ordinary traffic whenever the queue is gone, which the shrink rule brings
 * about (Envoy's adaptive concurrency instead pins concurrency to a minimum while it probes,
 * refusing requests). The limit stays within [`minLimit`, `maxLimit`].
 * @example
 * const limiter = new ConcurrencyLimiter({ algorithm: new GradientLimit({ maxLimit: 200 }) });
 */
export class GradientLimit implements LimitAlgorithm {
  readonly #minLimit: number;
  readonly #maxLimit: number;
  readonly #tolerance: number;
  readonly #growthBound: number;
  readonly #roundSamples: number;
  readonly #backoffRatio: number;
  readonly #baseline: MinWindow;
  #limit: number;
  #isSlowStart = true;
  #changedAt = -Infinity;
  #roundStart = NaN;
  #roundCount = 0;
  #roundSum = 0;
  #roundPeak = 0;
  #roundDrops = 0;
  #lastRoundMs = NaN;
  #lastBaselineMs = NaN;
  /** Peak in flight of the round the baseline was measured in. */
  #baselinePeak = NaN;
  /** The last round that shrank the limit: its peak in flight and mean latency. */
  #shrunkFrom: { peak: number; meanMs: number } | undefined;

  /** @throws {@link InvalidOptionError} `HP_ERR_INVALID_OPTION` naming a bad option. */
  constructor(options: GradientLimitOptions = {}) {
    this.#minLimit = checkNumber('minLimit', options.minLimit ?? 4, { min: 1 });
    this.#maxLimit = checkNumber('maxLimit', options.maxLimit ?? 1000, { min: this.#minLimit });
    this.#limit = checkNumber(
      'initialLimit',
      options.initialLimit ?? Math.min(this.#maxLimit, Math.max(this.#minLimit, 20)),
      { min: this.#minLimit, max: this.#maxLimit },
    );
    this.#tolerance = checkNumber('tolerance', options.tolerance ?? 1.5, { min: 1 });
    this.#growthBound = 1 + (this.#tolerance - 1) / 2;
    const windowMs = checkNumber('baselineWindowMs', options.baselineWindowMs ?? 5000, {
      min: 1,
    });
    this.#roundSamples = checkNumber('roundSamples', options.roundSamples ?? 8, {
      min: 1,
      integer: true,
    });
    this.#backoffRatio = checkNumber('backoffRatio', options.backoffRatio ?? 0.75, {
      min: 0.1,
      max: 1,
    });
    this.#baseline = new MinWindow(windowMs);
  }

  /** Calls allowed in flight: the limit rounded down. */
  get limit(): number {
    return Math.floor(this.#limit);
  }

  /** The baseline: the lowest round mean latency of the window, in ms (NaN before one). */
  get baselineMs(): number {
    return this.#lastBaselineMs;
  }

  /** Mean latency of the last completed round, in ms (NaN before one). */
  get lastRoundMs(): number {
    return this.#lastRoundMs;
  }

  update(sample: LimitSample): void {
    const { nowMs, rttMs } = sample;
    // Calls admitted before the last change say nothing about the current limit.
    if (nowMs - rttMs < this.#changedAt) return;
    if (this.#roundCount === 0 && this.#roundDrops === 0) this.#roundStart = nowMs;
    if (sample.didDrop) {
      this.#roundDrops++;
    } else {
      this.#roundCount++;
      this.#roundSum += rttMs;
    }
    if (sample.inFlight > this.#roundPeak) this.#roundPeak = sample.inFlight;
    if (this.#roundDrops > 0) {
      this.#endRound(nowMs);
      return;
    }
    const elapsed = nowMs - this.#roundStart;
    // A round lasts about one round trip: the baseline's, or this round's own before one.
    const roundMs = this.#lastBaselineMs >= 0 ? this.#lastBaselineMs : rttMs;
    if ((this.#roundCount >= this.#roundSamples && elapsed >= roundMs) || elapsed >= MAX_ROUND_MS) {
      this.#endRound(nowMs);
    }
  }

  #endRound(nowMs: number): void {
    const before = this.#limit;
    let limit = before;
    const peak = this.#roundPeak;
    if (this.#roundDrops > 0) {
      limit = before * this.#backoffRatio;
      this.#isSlowStart = false;
      this.#shrunkFrom = undefined;
    } else {
      const mean = this.#roundSum / this.#roundCount;
      this.#baseline.add(mean, peak, nowMs);
      let baseline = this.#baseline.min(nowMs);
      const last = this.#lastBaselineMs;
      if (
        baseline > last &&
        this.#baseline.tagOfMin(nowMs) > 1.1 * this.#baselinePeak &&
        before > this.#minLimit
      ) {
        // The window forgot the old baseline, and every round since ran more calls at once
        // than it was measured with: the rise may be our own queue (traffic resuming into an
        // old limit, a limit that crept up), not the dependency. Keep the old baseline; a
        // slower dependency is recognised below when shrinking does not help.
        this.#baseline.add(last, this.#baselinePeak, nowMs);
        baseline = last;
      }
      this.#lastRoundMs = mean;
      if (mean > this.#tolerance * baseline) {
        const shrunk = this.#shrunkFrom;
        if (shrunk !== undefined && peak <= 0.75 * shrunk.peak && mean >= 0.9 * shrunk.meanMs) {
          // Far fewer calls in flight, no faster: this latency is the dependency's own (a
          // slower dependency), not a queue the limit could drain. It is the new baseline.
          this.#baseline.reset(mean, peak, nowMs);
          baseline = mean;
          this.#shrunkFrom = undefined;
          // The limit was cut for a queue that was not there: find the new one fast.
          this.#isSlowStart = true;
        } else {
          limit = Math.min(before, peak) * Math.max(0.5, baseline / mean);
          this.#isSlowStart = false;
          this.#shrunkFrom = { peak, meanMs: mean };
        }
      } else {
        this.#shrunkFrom = undefined;
        // Between the growth bound and the tolerance the limit holds: growing there would
        // only lengthen a queue that already costs latency.
        if (peak >= USED_RATIO * Math.floor(before) && mean <= this.#growthBound * baseline) {
          limit = this.#isSlowStart ? before * 2 : before + Math.sqrt(before);
        }
      }
      if (baseline !== last || Number.isNaN(this.#baselinePeak)) {
        this.#baselinePeak = this.#baseline.tagOfMin(nowMs);
      }
      this.#lastBaselineMs = baseline;
    }
    this.#limit = Math.min(this.#maxLimit, Math.max(this.#minLimit, limit));
    if (Math.floor(this.#limit) !== Math.floor(before)) this.#changedAt = nowMs;
    this.#roundCount = 0;
    this.#roundSum = 0;
    this.#roundPeak = 0;
    this.#roundDrops = 0;
  }
}
