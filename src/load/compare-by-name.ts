/**
 * The per-name part of {@link compareResults}: req/s, p50, p99 and the error share of each
 * request name that both results have.
 *
 * Noise model: a name keeps no per-second series, so each figure's standard error is the
 * larger of two estimates. One is the whole run's relative per-second noise (req/s, p50 or
 * p99) applied to the name's figure: a name's requests span the same seconds as the run, so
 * they vary over time at least as much. The other is the sampling error of the name's own
 * count: for req/s, a Poisson count's `sqrt(n)`; for a percentile q of n latencies, half the
 * spread of the values at ranks `q * n ± 2 * sqrt(n * q * (1 - q))` (at least one rank; the
 * order-statistic confidence interval, read off the name's histogram), halved again to one
 * standard error. When those ranks fall past the slowest request (p99 of fewer than about 500
 * requests) the percentile cannot be told apart, and any change is within noise.
 * The error share uses the binomial standard error, as the run's does.
 */
import { Histogram } from '../metrics/index.js';
import type { ComparedMetric, Comparison } from './compare.js';
import { binomialError, comparedRow } from './compare-row.js';
import type { LatencySummary, NamedResult } from './result.js';

/** The whole run's relative standard error (of the base's mean) of its per-second series. */
export interface RunNoise {
  rps: number;
  p50: number;
  p99: number;
}

/**
 * One standard error of percentile `q` (0..100) of a summary, from its histogram; Infinity
 * when the confidence interval reaches past the slowest or fastest request (too few requests
 * for that percentile: a p99 of 300 rests on three).
 */
function percentileError(summary: LatencySummary, q: number): number {
  const n = summary.count;
  const p = q / 100;
  const rank = p * n;
  const spread = Math.max(1, 2 * Math.sqrt(n * p * (1 - p)));
  if (rank - spread < 1 || rank + spread > n) return Infinity;
  const h = new Histogram({
    lowest: summary.histogram.lowest,
    highest: summary.histogram.highest,
    precision: summary.histogram.precision,
  });
  h.merge(summary.histogram);
  const lo = h.percentile(((rank - spread) / n) * 100);
  const hi = h.percentile(((rank + spread) / n) * 100);
  return (hi - lo) / 4;
}

function errorShare(n: NamedResult): { share: number; attempts: number } {
  const failures = n.errors.connect + n.errors.timeout + n.errors.reset;
  let non2xx = 0;
  for (const [s, count] of Object.entries(n.statuses)) if (!s.startsWith('2')) non2xx += count;
  const attempts = n.completed + failures;
  return { share: attempts === 0 ? 0 : (failures + non2xx) / attempts, attempts };
}

/** Rows of each name present in both, in `current`'s order, and the names of one side only. */
export function compareByName(
  base: Record<string, NamedResult>,
  current: Record<string, NamedResult>,
  run: RunNoise,
): Required<Pick<Comparison, 'byName' | 'unmatchedNames'>> {
  const byName: Record<string, ComparedMetric[]> = {};
  for (const [name, c] of Object.entries(current)) {
    const b = base[name];
    if (b === undefined) continue;
    const rows: ComparedMetric[] = [];
    // Requests per second: its measured time is the count over the rate.
    const countError = (n: NamedResult) =>
      n.completed > 0 ? n.requestsPerSecond / Math.sqrt(n.completed) : Infinity;
    rows.push(
      comparedRow(
        'rps',
        b.requestsPerSecond,
        c.requestsPerSecond,
        Math.hypot(
          Math.max(countError(b), run.rps * b.requestsPerSecond),
          Math.max(countError(c), run.rps * b.requestsPerSecond),
        ),
        true,
        0,
      ),
    );
    for (const [q, relative] of [
      [50, run.p50],
      [99, run.p99],
    ] as const) {
      const bv = b.latency.percentiles[String(q)] ?? 0;
      const cv = c.latency.percentiles[String(q)] ?? 0;
      rows.push(
        comparedRow(
          `p${q}`,
          bv,
          cv,
          Math.hypot(
            Math.max(percentileError(b.latency, q), relative * bv),
            Math.max(percentileError(c.latency, q), relative * bv),
          ),
          false,
        ),
      );
    }
    const be = errorShare(b);
    const ce = errorShare(c);
    rows.push(
      comparedRow(
        'errors',
        be.share,
        ce.share,
        Math.hypot(binomialError(be.share, be.attempts), binomialError(ce.share, ce.attempts)),
        false,
        0,
      ),
    );
    byName[name] = rows;
  }
  return {
    byName,
    unmatchedNames: {
      base: Object.keys(base).filter((name) => !Object.hasOwn(current, name)),
      current: Object.keys(current).filter((name) => !Object.hasOwn(base, name)),
    },
  };
}
