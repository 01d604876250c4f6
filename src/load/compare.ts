/**
 * Compares two results of the same test: deltas of throughput and latency, each judged
 * against the run-to-run noise visible in the runs' own per-second timelines.
 *
 * Noise model: a metric with per-second samples x1..xn (requests/s, per-second p50, per-second
 * p99) has a standard error s/sqrt(n). A difference counts as noise when it is within twice
 * the combined standard error of the two runs (about 95% confidence), or within 2%, the
 * width of one histogram bucket (two percentiles in neighbouring buckets differ by that much). Tail percentiles above p99 and max have too few samples per
 * second to estimate; they borrow the per-second p99's relative noise.
 *
 * Per request name (when both results have names), req/s, p50, p99 and the error share are
 * compared the same way; see {@link compareByName} for their noise.
 */
import { compareByName } from './compare-by-name.js';
import { binomialError, comparedRow } from './compare-row.js';
import type { LoadResult, TimelinePoint } from './result.js';

/** One compared metric. */
export interface ComparedMetric {
  /** `rps`, `p50` ... `p99.99`, `max`, `mean`, `errors`. */
  metric: string;
  base: number;
  current: number;
  /** current - base. */
  delta: number;
  /** delta / base (0 when base is 0). */
  relative: number;
  /** Whether the difference is within the runs' noise. */
  isNoise: boolean;
  /** Whether the change is for the better (null when within noise). */
  isBetter: boolean | null;
}

/**
 * What {@link compareResults} returns: the whole run's rows, in order, and the rows of each
 * request name that both results have.
 */
export interface Comparison extends Array<ComparedMetric> {
  /**
   * `rps`, `p50`, `p99` and `errors` of each request name present in both results, keyed by
   * name, in the current result's order. Absent when either result has no per-name figures
   * (files written before names existed).
   */
  byName?: Record<string, ComparedMetric[]>;
  /** Names of only one of the two results (a mix entry added or removed); with `byName`. */
  unmatchedNames?: { base: string[]; current: string[] };
}

function standardError(values: number[]): number {
  if (values.length < 2) return Infinity;
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const variance = values.reduce((a, b) => a + (b - mean) ** 2, 0) / (values.length - 1);
  return Math.sqrt(variance / values.length);
}

/** Whole seconds only: the last, partial second would skew requests/s. */
function fullSeconds(r: LoadResult): TimelinePoint[] {
  return r.timeline.filter((p) => p.requests > 0 && (p.durationMs ?? 1000) >= 990);
}

/**
 * Compares `current` against `base`: the whole run's rows, plus `byName` when both results
 * have per-name figures.
 * @example
 * ```ts
 * const rows = compareResults(before, after);
 * for (const m of rows) console.log(m.metric, m.relative, m.isNoise);
 * for (const [name, named] of Object.entries(rows.byName ?? {}))
 *   console.log(name, named.find((m) => m.metric === 'p99')?.relative);
 * ```
 */
export function compareResults(base: LoadResult, current: LoadResult): Comparison {
  const bt = fullSeconds(base);
  const ct = fullSeconds(current);
  const se = (f: (p: TimelinePoint) => number) => ({
    base: standardError(bt.map(f)),
    current: standardError(ct.map(f)),
    baseMean: bt.length > 0 ? bt.reduce((a, p) => a + f(p), 0) / bt.length : 0,
  });
  const rpsNoise = se((p) => p.requests);
  const p50Noise = se((p) => p.p50);
  const p99Noise = se((p) => p.p99);
  const relP99 = p99Noise.baseMean > 0 ? p99Noise.base / p99Noise.baseMean : Infinity;
  const relCurP99 = p99Noise.baseMean > 0 ? p99Noise.current / p99Noise.baseMean : Infinity;
  const rows: Comparison = [];
  const add = (
    metric: string,
    b: number,
    c: number,
    noise: number,
    higherIsBetter: boolean,
    resolution = 0.02,
  ) => rows.push(comparedRow(metric, b, c, noise, higherIsBetter, resolution));
  const combined = (n: { base: number; current: number }) => Math.hypot(n.base, n.current);
  add('rps', base.requestsPerSecond, current.requestsPerSecond, combined(rpsNoise), true, 0);
  const bp = base.latency.percentiles;
  const cp = current.latency.percentiles;
  add('p50', bp['50'] ?? 0, cp['50'] ?? 0, combined(p50Noise), false);
  // Between p50 and p99 the noise is the larger of p50's and p99's scaled to the percentile.
  for (const p of ['75', '90', '95', '99']) {
    const scaled = combined(p99Noise) * ((bp[p] ?? 0) / Math.max(1, bp['99'] ?? 1));
    add(
      `p${p}`,
      bp[p] ?? 0,
      cp[p] ?? 0,
      p === '99' ? combined(p99Noise) : Math.max(combined(p50Noise), scaled),
      false,
    );
  }
  for (const p of ['99.9', '99.99']) {
    const b = bp[p] ?? 0;
    add(`p${p}`, b, cp[p] ?? 0, Math.hypot(relP99 * b, relCurP99 * b), false);
  }
  add(
    'max',
    base.latency.max,
    current.latency.max,
    Math.hypot(relP99 * base.latency.max, relCurP99 * base.latency.max),
    false,
  );
  add('mean', base.latency.mean, current.latency.mean, combined(p50Noise), false);
  const errorShare = (r: LoadResult) => {
    const failures = r.errors.connect + r.errors.timeout + r.errors.reset;
    let non2xx = 0;
    for (const [s, n] of Object.entries(r.statuses)) if (!s.startsWith('2')) non2xx += n;
    const all = r.completed + failures;
    return all === 0 ? 0 : (failures + non2xx) / all;
  };
  const be = errorShare(base);
  const ce = errorShare(current);
  add(
    'errors',
    be,
    ce,
    Math.hypot(binomialError(be, base.completed), binomialError(ce, current.completed)),
    false,
    0,
  );
  if (base.byName !== undefined && current.byName !== undefined) {
    const relative = (n: { base: number; current: number; baseMean: number }) =>
      n.baseMean > 0 ? Math.hypot(n.base, n.current) / n.baseMean : Infinity;
    Object.assign(
      rows,
      compareByName(base.byName, current.byName, {
        rps: relative(rpsNoise),
        p50: relative(p50Noise),
        p99: relative(p99Noise),
      }),
    );
  }
  return rows;
}
