import { InvalidOptionError } from '../errors/index.js';
import { checkNumber } from '../internal/validate-options.js';
import { HistogramMismatchError } from './errors.js';

/** Options of {@link Histogram}. */
export interface HistogramOptions {
  /**
   * Smallest distinguishable value; smaller values (zero, negatives, NaN) are recorded as this.
   * @defaultValue 1
   */
  lowest?: number;
  /**
   * Largest trackable value; larger values are recorded as this and counted in
   * {@link Histogram.outOfRange}. The default covers one hour in nanoseconds.
   * @defaultValue 3.6e12
   */
  highest?: number;
  /**
   * Bound on the relative error of every percentile, as a fraction (0.01 is 1%).
   * @defaultValue 0.01
   */
  precision?: number;
}

/**
 * A histogram as a plain JSON-serializable object, to move between worker threads, processes
 * or files. Only non-empty buckets are listed (`indexes[i]` holds `counts[i]` values).
 */
export interface HistogramSnapshot {
  /** Format version, 1. */
  v: 1;
  lowest: number;
  highest: number;
  precision: number;
  count: number;
  sum: number;
  sumSquares: number;
  min: number;
  max: number;
  outOfRange: number;
  /** Ascending indexes of the non-empty buckets. */
  indexes: number[];
  /** Counts of the buckets in `indexes`, same order. */
  counts: number[];
}

/** One non-empty bucket: it holds `count` values in `[previous upperBound, upperBound)`. */
export interface HistogramBucket {
  upperBound: number;
  count: number;
}

const TWO_POW_32 = 4294967296;
// 2^-e for every exponent a float64 ratio highest/lowest can reach here.
const INV_POW2 = new Float64Array(64).map((_, e) => 2 ** -e);
// 2^e, read by the bucket bounds: `2 ** e` there was a third of a merged scrape's CPU
// (bench/metrics/cluster-scrape.bench.ts).
const POW2 = new Float64Array(64).map((_, e) => 2 ** e);

/**
 * A log-linear (HDR-style) histogram of unit-less numbers: record cheaply on a hot path, read
 * any percentile with a bounded relative error, merge exactly across threads and processes.
 *
 * Values are kept in units of `lowest`. Each power-of-two range is one bucket group, cut into
 * `M` equal sub-buckets, M the smallest power of two with `1 / (2M) <= precision`
 * (M = 64 for 1%, so the worst error is 0.78%):
 *
 * ```
 *   group e covers [2^e, 2^(e+1)) in units of lowest
 *   ┌──────┬──────┬──────┬─── ··· ───┬────────┐
 *   │ s=0  │ s=1  │ s=2  │           │ s=M-1  │   each sub-bucket 2^e / M wide
 *   └──────┴──────┴──────┴─── ··· ───┴────────┘
 *   index = e * M + s      (one Float64Array of counts, allocated once)
 * ```
 *
 * A percentile is answered with the midpoint of the bucket holding its rank (nearest-rank
 * definition), clamped to [min, max], so its error is at most half a bucket width over the
 * bucket's lower bound: `1 / (2M)`. `count`, `sum`, `min`, `max` are exact; `percentile(100)`
 * is `max`. Recording does not allocate: it is a few arithmetic operations, a `clz32` and an
 * array increment (see bench/metrics/record.bench.ts).
 *
 * @example
 * ```ts
 * const h = new Histogram();
 * h.record(1250); // e.g. microseconds
 * h.percentile(99);
 * ```
 */
export class Histogram {
  /** Smallest distinguishable value. */
  readonly lowest: number;
  /** Largest trackable value. */
  readonly highest: number;
  /** Relative error bound asked for. */
  readonly precision: number;
  /** Linear sub-buckets per power of two (M). */
  readonly subBucketCount: number;

  #counts: Float64Array;
  #subBits: number;
  #count = 0;
  #sum = 0;
  #sumSquares = 0;
  #min = Infinity;
  #max = -Infinity;
  #outOfRange = 0;

  /**
   * @throws {@link InvalidOptionError} `HP_ERR_INVALID_OPTION` when `lowest` is not positive,
   * `highest` is not above it, or `precision` is outside (0, 0.5].
   */
  constructor(options: HistogramOptions = {}) {
    const lowest = checkNumber('lowest', options.lowest ?? 1, { min: Number.MIN_VALUE });
    const highest = checkNumber('highest', options.highest ?? 3.6e12, { min: lowest });
    if (highest / lowest < 2)
      throw new InvalidOptionError('highest', 'must be at least 2 * lowest');
    if (highest / lowest >= 2 ** 62) {
      throw new InvalidOptionError('highest', 'highest / lowest must stay below 2^62');
    }
    const precision = checkNumber('precision', options.precision ?? 0.01, {
      min: 1e-6,
      max: 0.5,
    });
    this.lowest = lowest;
    this.highest = highest;
    this.precision = precision;
    this.#subBits = Math.max(0, Math.ceil(Math.log2(1 / (2 * precision))));
    this.subBucketCount = 2 ** this.#subBits;
    const groups = exponentOf(highest / lowest) + 1;
    this.#counts = new Float64Array(groups * this.subBucketCount);
  }

  /** Number of values recorded. */
  get count(): number {
    return this.#count;
  }
  /** Smallest value recorded (after clamping to [lowest, highest]); `0` when empty. */
  get min(): number {
    return this.#count === 0 ? 0 : this.#min;
  }
  /** Largest value recorded (after clamping to [lowest, highest]); `0` when empty. */
  get max(): number {
    return this.#count === 0 ? 0 : this.#max;
  }
  /** Sum of the values recorded (after clamping). */
  get sum(): number {
    return this.#sum;
  }
  /** Arithmetic mean; `0` when empty. */
  get mean(): number {
    return this.#count === 0 ? 0 : this.#sum / this.#count;
  }
  /** Population standard deviation; `0` when empty. */
  get stdev(): number {
    if (this.#count === 0) return 0;
    const mean = this.#sum / this.#count;
    return Math.sqrt(Math.max(0, this.#sumSquares / this.#count - mean * mean));
  }
  /** How many recorded values were above `highest` and clamped down to it. */
  get outOfRange(): number {
    return this.#outOfRange;
  }
  /** Bytes held by the bucket array. */
  get byteLength(): number {
    return this.#counts.byteLength;
  }

  /** Records one value. Does not allocate. */
  record(value: number): void {
    // recordMany(value, 1) spelled out: the hot path of every instrument
    // (bench/metrics/record.bench.ts).
    if (!(value >= this.lowest)) value = this.lowest;
    else if (value > this.highest) {
      value = this.highest;
      this.#outOfRange++;
    }
    this.#counts[this.#indexOf(value)]!++;
    this.#count++;
    this.#sum += value;
    this.#sumSquares += value * value;
    if (value < this.#min) this.#min = value;
    if (value > this.#max) this.#max = value;
  }

  /** Records `count` occurrences of `value` (a non-positive `count` records nothing). */
  recordMany(value: number, count: number): void {
    if (!(count > 0)) return;
    // `!(v >= lowest)` also catches NaN.
    if (!(value >= this.lowest)) value = this.lowest;
    else if (value > this.highest) {
      value = this.highest;
      this.#outOfRange += count;
    }
    this.#counts[this.#indexOf(value)]! += count;
    this.#count += count;
    this.#sum += value * count;
    this.#sumSquares += value * value * count;
    if (value < this.#min) this.#min = value;
    if (value > this.#max) this.#max = value;
  }

  /**
   * The value at percentile `p` (nearest rank), within `precision` relative error;
   * `percentile(0)` is `min` and `percentile(100)` is `max`, exactly. `0` when empty.
   * @throws {@link InvalidOptionError} `HP_ERR_INVALID_OPTION` when `p` is outside [0, 100].
   */
  percentile(p: number): number {
    if (!(p >= 0 && p <= 100)) throw new InvalidOptionError('p', `expected [0, 100], got ${p}`);
    if (this.#count === 0) return 0;
    if (p === 100) return this.#max;
    if (p === 0) return this.#min;
    // The epsilon keeps 99.99% of 10000 at rank 9999 despite float rounding.
    const rank = Math.max(1, Math.ceil((p / 100) * this.#count - 1e-9));
    const counts = this.#counts;
    const last = this.#indexOf(this.#max);
    let seen = 0;
    for (let i = this.#indexOf(this.#min); i <= last; i++) {
      seen += counts[i]!;
      if (seen >= rank) {
        const mid = this.#lowerBound(i) + this.#width(i) / 2;
        return Math.min(this.#max, Math.max(this.#min, mid));
      }
    }
    return this.#max;
  }

  /**
   * Adds every value of `other` to this histogram. Exact: the result equals recording both
   * streams into one histogram.
   * @throws {@link HistogramMismatchError} `HP_ERR_METRICS_HISTOGRAM_MISMATCH` when `other`
   * has a different `lowest` or bucket layout.
   */
  merge(other: Histogram | HistogramSnapshot): void {
    const snap = other instanceof Histogram ? null : other;
    const lowest = other.lowest;
    const precision = other.precision;
    const sub = Math.max(0, Math.ceil(Math.log2(1 / (2 * precision))));
    if (lowest !== this.lowest || sub !== this.#subBits) {
      throw new HistogramMismatchError(
        `cannot merge a histogram with lowest=${lowest}, precision=${precision} into one with lowest=${this.lowest}, precision=${this.precision}`,
      );
    }
    const counts = this.#counts;
    const top = counts.length - 1;
    let extra = 0;
    if (snap === null) {
      const theirs = (other as Histogram).#counts;
      for (let i = 0; i < theirs.length; i++) {
        const c = theirs[i]!;
        if (c === 0) continue;
        if (i > top) {
          counts[top]! += c;
          extra += c;
        } else counts[i]! += c;
      }
    } else {
      if (snap.indexes.length !== snap.counts.length) {
        throw new HistogramMismatchError('snapshot indexes and counts differ in length');
      }
      for (let k = 0; k < snap.indexes.length; k++) {
        const i = snap.indexes[k]!;
        const c = snap.counts[k]!;
        if (!Number.isInteger(i) || i < 0) {
          throw new HistogramMismatchError(`snapshot bucket index ${i} is invalid`);
        }
        if (i > top) {
          counts[top]! += c;
          extra += c;
        } else counts[i]! += c;
      }
    }
    const count = other instanceof Histogram ? other.#count : other.count;
    if (count === 0) return;
    const otherMin = other instanceof Histogram ? other.#min : other.min;
    const otherMax = other instanceof Histogram ? other.#max : other.max;
    this.#count += count;
    this.#sum += other instanceof Histogram ? other.#sum : other.sum;
    this.#sumSquares += other instanceof Histogram ? other.#sumSquares : other.sumSquares;
    this.#outOfRange += other.outOfRange + extra;
    if (otherMin < this.#min) this.#min = Math.min(this.highest, otherMin);
    this.#max = Math.min(this.highest, Math.max(this.#max, otherMax));
  }

  /** Forgets every value recorded. */
  reset(): void {
    this.#counts.fill(0);
    this.#count = 0;
    this.#sum = 0;
    this.#sumSquares = 0;
    this.#min = Infinity;
    this.#max = -Infinity;
    this.#outOfRange = 0;
  }

  /** A plain JSON-serializable copy (sparse buckets). */
  snapshot(): HistogramSnapshot {
    const indexes: number[] = [];
    const counts: number[] = [];
    const all = this.#counts;
    for (let i = 0; i < all.length; i++) {
      if (all[i] !== 0) {
        indexes.push(i);
        counts.push(all[i]!);
      }
    }
    return {
      v: 1,
      lowest: this.lowest,
      highest: this.highest,
      precision: this.precision,
      count: this.#count,
      sum: this.#sum,
      sumSquares: this.#sumSquares,
      min: this.min,
      max: this.max,
      outOfRange: this.#outOfRange,
      indexes,
      counts,
    };
  }

  /**
   * Rebuilds a histogram from {@link Histogram.snapshot}'s output.
   * @throws {@link HistogramMismatchError} `HP_ERR_METRICS_HISTOGRAM_MISMATCH` on a malformed
   * snapshot.
   */
  static fromSnapshot(snapshot: HistogramSnapshot): Histogram {
    if (snapshot === null || typeof snapshot !== 'object' || snapshot.v !== 1) {
      throw new HistogramMismatchError('not a version 1 histogram snapshot');
    }
    const h = new Histogram({
      lowest: snapshot.lowest,
      highest: snapshot.highest,
      precision: snapshot.precision,
    });
    h.merge(snapshot);
    return h;
  }

  /** The non-empty buckets in ascending order, for exposition as cumulative `le` buckets. */
  *buckets(): Generator<HistogramBucket> {
    const counts = this.#counts;
    for (let i = 0; i < counts.length; i++) {
      const count = counts[i]!;
      if (count !== 0) yield { upperBound: this.#lowerBound(i) + this.#width(i), count };
    }
  }

  /**
   * How many recorded values are below `bound` (bucket resolution: a bucket counts when its
   * upper bound is at most `bound`, so the answer is off by at most the one bucket that
   * straddles `bound`).
   */
  countBelow(bound: number): number {
    const counts = this.#counts;
    let total = 0;
    for (let i = 0; i < counts.length; i++) {
      const c = counts[i]!;
      if (c === 0) continue;
      if (this.#lowerBound(i) + this.#width(i) > bound) break;
      total += c;
    }
    return total;
  }

  /**
   * Fills `out[k]` with how many values are at most `bounds[k]` (ascending bounds, in recorded
   * units), for Prometheus `le` buckets. A bucket counts under the first bound at or above its
   * midpoint, so a count is off by at most the one bucket that straddles its bound.
   */
  cumulativeCounts(bounds: readonly number[], out: Float64Array | number[]): void {
    for (let k = 0; k < bounds.length; k++) out[k] = 0;
    if (this.#count === 0) return;
    const counts = this.#counts;
    const last = this.#indexOf(this.#max);
    let k = 0;
    for (let i = this.#indexOf(this.#min); i <= last; i++) {
      const c = counts[i]!;
      if (c === 0) continue;
      const mid = this.#lowerBound(i) + this.#width(i) / 2;
      while (k < bounds.length && mid > bounds[k]!) k++;
      if (k === bounds.length) break;
      out[k]! += c;
    }
    for (let j = 1; j < bounds.length; j++) out[j]! += out[j - 1]!;
  }

  /** Index of the bucket holding `value`, which is already within [lowest, highest]. */
  #indexOf(value: number): number {
    // Division, not a multiplication by 1 / lowest: rounding must never take lowest below 1.
    const scaled = value / this.lowest;
    // clz32 truncates to uint32, which keeps the exponent of any scaled value >= 1.
    const e = scaled < TWO_POW_32 ? 31 - Math.clz32(scaled) : 63 - Math.clz32(scaled / TWO_POW_32);
    const sub = ((scaled * INV_POW2[e]! - 1) * this.subBucketCount) | 0;
    return (e << this.#subBits) + sub;
  }

  #lowerBound(index: number): number {
    const e = index >> this.#subBits;
    const sub = index & (this.subBucketCount - 1);
    return this.lowest * POW2[e]! * (1 + sub / this.subBucketCount);
  }

  #width(index: number): number {
    return (this.lowest * POW2[index >> this.#subBits]!) / this.subBucketCount;
  }
}

function exponentOf(scaled: number): number {
  return scaled < TWO_POW_32 ? 31 - Math.clz32(scaled) : 63 - Math.clz32(scaled / TWO_POW_32);
}
