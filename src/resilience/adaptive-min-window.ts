/**
 * The minimum of the values added over the last `windowMs`, kept in a ring of `buckets` time
 * buckets (the minimum of each, with a tag: what the caller wants to remember about it), so
 * old values leave the window and the minimum can rise again. The window is `windowMs` to
 * `windowMs * (1 + 1 / buckets)` long.
 *
 * ```
 *  time ->   | b0 | b1 | b2 | ... | b9 |      each bucket: its epoch, its min and that min's tag
 *              ^ expired once now is buckets later
 * ```
 */
export class MinWindow {
  readonly #bucketMs: number;
  readonly #epochs: Float64Array;
  readonly #mins: Float64Array;
  readonly #tags: Float64Array;

  constructor(windowMs: number, buckets = 10) {
    this.#bucketMs = windowMs / buckets;
    this.#epochs = new Float64Array(buckets).fill(-Infinity);
    this.#mins = new Float64Array(buckets).fill(Infinity);
    this.#tags = new Float64Array(buckets);
  }

  add(value: number, tag: number, nowMs: number): void {
    const epoch = Math.floor(nowMs / this.#bucketMs);
    const n = this.#epochs.length;
    const i = ((epoch % n) + n) % n;
    if (this.#epochs[i] !== epoch || value <= this.#mins[i]!) {
      this.#epochs[i] = epoch;
      this.#mins[i] = value;
      this.#tags[i] = tag;
    }
  }

  /** Forgets every value, then adds `value`. */
  reset(value: number, tag: number, nowMs: number): void {
    this.#epochs.fill(-Infinity);
    this.#mins.fill(Infinity);
    this.add(value, tag, nowMs);
  }

  /** The minimum over the window; Infinity when nothing is in it. */
  min(nowMs: number): number {
    const i = this.#argmin(nowMs);
    return i === -1 ? Infinity : this.#mins[i]!;
  }

  /** The tag of the minimum over the window; NaN when nothing is in it. */
  tagOfMin(nowMs: number): number {
    const i = this.#argmin(nowMs);
    return i === -1 ? NaN : this.#tags[i]!;
  }

  #argmin(nowMs: number): number {
    const oldest = Math.floor(nowMs / this.#bucketMs) - this.#epochs.length;
    let best = -1;
    for (let i = 0; i < this.#epochs.length; i++) {
      if (this.#epochs[i]! > oldest && (best === -1 || this.#mins[i]! < this.#mins[best]!)) {
        best = i;
      }
    }
    return best;
  }
}
