import type { ComparedMetric } from './compare.js';

/**
 * One compared metric: the delta and its verdict. A difference is noise when within twice
 * `noise` (a standard error; about 95%) or within `resolution` of the larger value (2%, one
 * histogram bucket, for latencies).
 */
export function comparedRow(
  metric: string,
  base: number,
  current: number,
  noise: number,
  higherIsBetter: boolean,
  resolution = 0.02,
): ComparedMetric {
  const delta = current - base;
  const relative = base === 0 ? 0 : delta / base;
  const isNoise =
    Math.abs(delta) <= 2 * noise ||
    Math.abs(delta) <= resolution * Math.max(Math.abs(base), Math.abs(current));
  return {
    metric,
    base,
    current,
    delta,
    relative,
    isNoise,
    isBetter: isNoise ? null : higherIsBetter ? delta > 0 : delta < 0,
  };
}

/** Binomial standard error of a share `p` of `n`. */
export function binomialError(p: number, n: number): number {
  return n > 0 ? Math.sqrt((p * (1 - p)) / n) : Infinity;
}
