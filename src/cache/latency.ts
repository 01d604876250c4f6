/**
 * A small latency summary: count, mean, max and quantiles from log-spaced buckets (4 per
 * doubling, so a quantile is within about 19% of the truth) from 1 µs to about 70 s.
 * Recording is one Math.log2 and an array increment.
 */
export class LatencyRecorder {
  static readonly #BUCKETS = 26 * 4;
  readonly #counts = new Uint32Array(LatencyRecorder.#BUCKETS);
  #count = 0;
  #sumMs = 0;
  #maxMs = 0;

  /** Records one duration in milliseconds. */
  record(ms: number): void {
    this.#count++;
    this.#sumMs += ms;
    if (ms > this.#maxMs) this.#maxMs = ms;
    const us = ms * 1000;
    const index =
      us <= 1 ? 0 : Math.min(LatencyRecorder.#BUCKETS - 1, Math.ceil(Math.log2(us) * 4));
    this.#counts[index]!++;
  }

  /** The summary so far, in milliseconds. */
  summary(): LatencySummary {
    return {
      count: this.#count,
      meanMs: this.#count === 0 ? 0 : this.#sumMs / this.#count,
      p50Ms: this.#quantile(0.5),
      p99Ms: this.#quantile(0.99),
      maxMs: this.#maxMs,
    };
  }

  #quantile(q: number): number {
    if (this.#count === 0) return 0;
    const rank = Math.ceil(q * this.#count);
    let seen = 0;
    for (let i = 0; i < this.#counts.length; i++) {
      seen += this.#counts[i]!;
      if (seen >= rank) return Math.min(this.#maxMs, 2 ** (i / 4) / 1000);
    }
    return this.#maxMs;
  }
}

/** Latency figures of one operation, in milliseconds (quantiles are bucket upper bounds). */
export interface LatencySummary {
  count: number;
  meanMs: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}
