/**
 * The statistics of the experiments and of their regression gate: medians, the ratio of an
 * optimized variant over its naive twin, and a bootstrap confidence interval of that ratio
 * from the rounds of one run (seeded, so the same samples always give the same answer).
 */
import { seededRandom } from 'hotpath/load';

/** Whether a smaller or a larger figure is the better one. */
export type Direction = 'lower' | 'higher';

/** Median of the finite values (a round that completed no request has NaN figures). */
export function median(values: readonly number[]): number {
  const sorted = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * How many times better `optimized` is than `naive`, as a number where above 1 means better
 * whatever the direction: naive / optimized for a cost (latency, CPU per request), optimized
 * / naive for a yield (knee, goodput). NaN when the divisor is 0 or either is not finite.
 */
export function improvement(naive: number, optimized: number, direction: Direction): number {
  const [top, bottom] = direction === 'lower' ? [naive, optimized] : [optimized, naive];
  if (!Number.isFinite(top) || !Number.isFinite(bottom) || bottom === 0) return NaN;
  return top / bottom;
}

/**
 * The ratio of one run as the gate reads it: the geometric mean of the per-round ratios
 * (round i of naive against round i of optimized). With 5 to 10 rounds it varies less from
 * run to run than the ratio of medians, and a round's shared machine load cancels in it.
 */
export function pairedRatio(
  naive: readonly number[],
  optimized: readonly number[],
  direction: Direction,
): number {
  const n = Math.min(naive.length, optimized.length);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const r = improvement(naive[i]!, optimized[i]!, direction);
    if (!Number.isFinite(r) || r <= 0) return NaN;
    sum += Math.log(r);
  }
  return n === 0 ? NaN : Math.exp(sum / n);
}

/** The ratio of one run: medians over rounds, then {@link improvement}. */
export function ratioOfMedians(
  naive: readonly number[],
  optimized: readonly number[],
  direction: Direction,
): number {
  return improvement(median(naive), median(optimized), direction);
}

export interface RatioInterval {
  /** {@link pairedRatio} of all rounds. */
  ratio: number;
  /** Bounds of the bootstrap interval of the ratio. */
  low: number;
  high: number;
  /** Rounds in the pair (the shorter series when they differ). */
  rounds: number;
}

export interface BootstrapOptions {
  /** Resamples drawn. @defaultValue 4000 */
  resamples?: number;
  /** Two-sided coverage of the interval, 0..1. @defaultValue 0.9 */
  confidence?: number;
  /** Seed of the resampling. @defaultValue 1 */
  seed?: number;
}

/** Upper `p` quantile of the standard normal (Abramowitz and Stegun 26.2.23, error < 5e-4). */
export function normalQuantile(p: number): number {
  const t = Math.sqrt(-2 * Math.log(p));
  return (
    t -
    (2.515517 + 0.802853 * t + 0.010328 * t * t) /
      (1 + 1.432788 * t + 0.189269 * t * t + 0.001308 * t ** 3)
  );
}

/** Upper `p` quantile of Student's t with `df` degrees of freedom (Cornish-Fisher, df >= 3 to 1%). */
export function studentQuantile(p: number, df: number): number {
  const z = normalQuantile(p);
  return (
    z +
    (z ** 3 + z) / (4 * df) +
    (5 * z ** 5 + 16 * z ** 3 + 3 * z) / (96 * df ** 2) +
    (3 * z ** 7 + 19 * z ** 5 + 17 * z ** 3 - 15 * z) / (384 * df ** 3)
  );
}

function percentile(sorted: readonly number[], q: number): number {
  const at = Math.min(sorted.length - 1, Math.max(0, Math.round(q * (sorted.length - 1))));
  return sorted[at]!;
}

/**
 * Bootstrap interval of {@link pairedRatio}. Rounds are resampled in pairs (round i of naive
 * with round i of optimized) because the two ran back to back and share the machine's load
 * of that moment. A plain percentile bootstrap of 5 rounds gives intervals too narrow (its
 * spread is the biased variance, its tails normal): the per-round log ratios are spread about
 * their mean by sqrt(n / (n - 1)) * t(n - 1) / z before resampling, so the interval is as wide
 * as Student's t says for that many rounds, with the bootstrap's shape.
 */
export function bootstrapRatio(
  naive: readonly number[],
  optimized: readonly number[],
  direction: Direction,
  options: BootstrapOptions = {},
): RatioInterval {
  const n = Math.min(naive.length, optimized.length);
  const ratio = pairedRatio(naive.slice(0, n), optimized.slice(0, n), direction);
  if (n < 2 || !Number.isFinite(ratio)) return { ratio, low: NaN, high: NaN, rounds: n };
  const center = Math.log(ratio);
  const confidence = options.confidence ?? 0.9;
  const tail = (1 - confidence) / 2;
  const inflate = Math.sqrt(n / (n - 1)) * (studentQuantile(tail, n - 1) / normalQuantile(tail));
  const logs: number[] = [];
  for (let i = 0; i < n; i++) {
    const r = Math.log(improvement(naive[i]!, optimized[i]!, direction));
    logs.push(center + (r - center) * inflate);
  }
  const resamples = options.resamples ?? 4000;
  const random = seededRandom(options.seed ?? 1);
  const draws: number[] = [];
  for (let r = 0; r < resamples; r++) {
    let sum = 0;
    for (let i = 0; i < n; i++) sum += logs[Math.floor(random() * n)]!;
    draws.push(Math.exp(sum / n));
  }
  draws.sort((x, y) => x - y);
  return { ratio, low: percentile(draws, tail), high: percentile(draws, 1 - tail), rounds: n };
}

/** One pair's figures as the baseline file keeps them. */
export interface BaselinePair {
  metric: string;
  direction: Direction;
  ratio: number;
  low: number;
  high: number;
  rounds: number;
}

export interface GateVerdict {
  isRegression: boolean;
  /** One sentence for the reader. */
  message: string;
}

/**
 * A regression is an interval of this run's ratio that lies wholly below the baseline's
 * ratio: the drop exceeds what the rounds of this run say the noise is.
 */
export function judge(
  name: string,
  current: RatioInterval,
  baseline: Pick<BaselinePair, 'ratio' | 'metric'>,
): GateVerdict {
  const range = `${current.ratio.toFixed(2)}x (interval ${current.low.toFixed(2)}-${current.high.toFixed(2)}x over ${current.rounds} rounds)`;
  if (!Number.isFinite(current.ratio) || !Number.isFinite(current.high)) {
    return {
      isRegression: true,
      message: `${name}: ${baseline.metric} ratio could not be computed this run (baseline ${baseline.ratio.toFixed(2)}x)`,
    };
  }
  if (current.high < baseline.ratio) {
    const drop = (1 - current.ratio / baseline.ratio) * 100;
    return {
      isRegression: true,
      message: `${name}: ${baseline.metric} ratio ${range} is below the baseline ${baseline.ratio.toFixed(2)}x by ${drop.toFixed(1)}%, more than the noise of the rounds`,
    };
  }
  return {
    isRegression: false,
    message: `${name}: ${baseline.metric} ratio ${range}, baseline ${baseline.ratio.toFixed(2)}x: ok`,
  };
}
