import { monotonicClock, type Clock } from '../internal/clock.js';
import { checkNumber } from '../internal/validate-options.js';
import { Histogram, type HistogramOptions } from './histogram.js';

/** Options of {@link WindowedHistogram}. */
export interface WindowedHistogramOptions extends HistogramOptions {
  /**
   * Length of the recent window in milliseconds.
   * @defaultValue 10000
   */
  windowMs?: number;
  /**
   * Number of slots the window is cut into; the window slides one slot at a time.
   * @defaultValue 10
   */
  slots?: number;
  /**
   * Rotate the slots on a timer (unref'ed). With `false`, call {@link WindowedHistogram.rotate}
   * every `windowMs / slots` milliseconds yourself.
   * @defaultValue true
   */
  autoRotate?: boolean;
  /** Clock for {@link WindowedHistogram.coveredMs}, in milliseconds. @defaultValue `performance` */
  clock?: Clock;
}

/**
 * A histogram of the recent past: the last `windowMs` milliseconds, kept as a ring of
 * `slots` histograms. Recording goes to the current slot (no clock read, no allocation);
 * every `windowMs / slots` the oldest slot is cleared and becomes the current one.
 *
 * ```
 *   slots (10 x 1 s)   [ 3 ][ 4 ][ 5 ][ 6 ][ 7 ][ 8 ][ 9 ][ 0 ][ 1 ][ 2 ]
 *                                                          ^ current: record() lands here
 *   rotate():          clear the slot after current, make it current
 *   window():          merge of all slots = the last 9..10 s
 * ```
 *
 * The window is exact to one slot: right after a rotation it covers `windowMs - slot`.
 */
export class WindowedHistogram {
  /** Window length in milliseconds. */
  readonly windowMs: number;
  /** Slot length in milliseconds. */
  readonly slotMs: number;
  #slots: Histogram[];
  #current: Histogram;
  #index = 0;
  #merged: Histogram;
  #timer: NodeJS.Timeout | undefined;
  #clock: Clock;
  #slotStart: number;

  /** @throws {@link InvalidOptionError} `HP_ERR_INVALID_OPTION` on a bad option. */
  constructor(options: WindowedHistogramOptions = {}) {
    this.windowMs = checkNumber('windowMs', options.windowMs ?? 10_000, { min: 1 });
    const slots = checkNumber('slots', options.slots ?? 10, { min: 1, max: 1000, integer: true });
    this.slotMs = this.windowMs / slots;
    const layout: HistogramOptions = {};
    if (options.lowest !== undefined) layout.lowest = options.lowest;
    if (options.highest !== undefined) layout.highest = options.highest;
    if (options.precision !== undefined) layout.precision = options.precision;
    this.#slots = Array.from({ length: slots }, () => new Histogram(layout));
    this.#current = this.#slots[0]!;
    this.#merged = new Histogram(layout);
    this.#clock = options.clock ?? monotonicClock;
    this.#slotStart = this.#clock.now();
    if (options.autoRotate ?? true) {
      this.#timer = setInterval(() => this.rotate(), this.slotMs);
      this.#timer.unref();
    }
  }

  /** Records one value into the current slot. */
  record(value: number): void {
    this.#current.record(value);
  }

  /** Records `count` occurrences of `value` into the current slot. */
  recordMany(value: number, count: number): void {
    this.#current.recordMany(value, count);
  }

  /** Drops the oldest slot and starts a new current one. */
  rotate(): void {
    this.#index = (this.#index + 1) % this.#slots.length;
    this.#current = this.#slots[this.#index]!;
    this.#current.reset();
    this.#slotStart = this.#clock.now();
  }

  /** Number of slots. */
  get slots(): number {
    return this.#slots.length;
  }

  /** Index (0 to `slots - 1`) of the current slot; {@link rotate} advances it. */
  get slotIndex(): number {
    return this.#index;
  }

  /**
   * How many milliseconds {@link window}(`windowMs`) really covers: the whole slots before the
   * current one plus the time the current slot has run. Divide counts by it to get rates.
   */
  coveredMs(windowMs: number = this.windowMs): number {
    const k = this.#slotsFor(windowMs);
    const current = Math.min(this.slotMs, Math.max(0, this.#clock.now() - this.#slotStart));
    return (k - 1) * this.slotMs + current;
  }

  /**
   * The values of the last `windowMs` (the current slot and the ones before it, whole slots)
   * merged into one histogram. The returned object is reused by the next call: read it, or
   * copy it with `snapshot()`, before calling again.
   */
  window(windowMs: number = this.windowMs): Histogram {
    const merged = this.#merged;
    merged.reset();
    const n = this.#slots.length;
    const k = this.#slotsFor(windowMs);
    for (let j = 0; j < k; j++) {
      const slot = this.#slots[(this.#index - j + n) % n]!;
      if (slot.count > 0) merged.merge(slot);
    }
    return merged;
  }

  #slotsFor(windowMs: number): number {
    return Math.min(this.#slots.length, Math.max(1, Math.ceil(windowMs / this.slotMs - 1e-9)));
  }

  /** Clears every slot. */
  reset(): void {
    for (const slot of this.#slots) slot.reset();
  }

  /** Stops the rotation timer. */
  async close(): Promise<void> {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
