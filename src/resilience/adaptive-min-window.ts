/**
 * The minimum of the values added over the last `windowMs`, kept in a ring of `buckets` time
 * buckets (the minimum of each), so old values leave the window and the minimum can rise
 * again. The window is `windowMs` to `windowMs * (1 + 1 / buckets)` long.
 *
 * ```
 *  time ->   | b0 | b1 | b2 | ... | b9 |      each bucket: its epoch and the min of its values
 *              ^ expired once now is buckets later
 * ```
 */
export class MinWindow {
  readonly #bucketMs: number;
  readonly #epochs: Float64Array;
  readonly #mins: Float64Array;

  constructor(windowMs: number, buckets = 10) {
    this.#bucketMs = windowMs / buckets;
    this.#epochs = new Float64Array(buckets).fill(-Infinity);
    this.#mins = new Float64Array(buckets).fill(Infinity);
  }

  add(value: number, nowMs: number): void {
    const epoch = Math.floor(nowMs / this.#bucketMs);
    const n = this.#epochs.length;
    const i = ((epoch % n) + n) % n;
    if (this.#epochs[i] !== epoch) {
      this.#epochs[i] = epoch;
      this.#mins[i] = value;
    } else if (value < this.#mins[i]!) {
      this.#mins[i] = value;
    }
  }

  /** Forgets every value, then adds `value`. */
  reset(value: number, nowMs: number): void {
    this.#epochs.fill(-Infinity);
    this.#mins.fill(Infinity);
    this.add(value, nowMs);
  }

  /** The minimum over the window; Infinity when nothing is in it. */
  min(nowMs: number): number {
    const oldest = Math.floor(nowMs / this.#bucketMs) - this.#epochs.length;
    let min = Infinity;
    for (let i = 0; i < this.#epochs.length; i++) {
      if (this.#epochs[i]! > oldest && this.#mins[i]! < min) min = this.#mins[i]!;
    }
    return min;
  }
}
