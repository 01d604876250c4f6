/**
 * Pass/fail thresholds for CI gates: `p99<250ms`, `mean<=20ms`, `errors<1%`, `non2xx<10`,
 * `rps>=1000`. Latency thresholds read the latency from the intended send time.
 */
import { InvalidOptionError } from '../errors/index.js';
import { Histogram } from '../metrics/index.js';
import type { LoadResult } from './result.js';
import { formatMicros, parseDuration } from './units.js';

/** A parsed threshold. */
export interface Threshold {
  /** The text as given. */
  text: string;
  /** `p<N>`, `mean`, `max`, `min`, `stdev`, `errors`, `non2xx` or `rps`. */
  metric: string;
  op: '<' | '<=' | '>' | '>=';
  /** Microseconds for latencies, a fraction for `%`, else a count or rate. */
  value: number;
  /** Whether `value` is a share of all requests (`errors<1%`). */
  isShare: boolean;
}

/** A threshold checked against a result. */
export interface ThresholdOutcome {
  threshold: Threshold;
  /** The result's value in the threshold's terms (µs, fraction, count or req/s). */
  actual: number;
  isPassed: boolean;
  /** One readable line: `p99 < 250 ms: 12.3 ms ok`. */
  message: string;
}

const LATENCY = /^(p\d+(?:\.\d+)?|mean|max|min|stdev)$/;

/**
 * Parses `METRIC OP VALUE[UNIT]`.
 * @throws {@link InvalidOptionError} `HP_ERR_INVALID_OPTION` (option `threshold`) on an unknown
 * metric, operator or unit.
 */
export function parseThreshold(text: string): Threshold {
  const m = /^\s*([a-z0-9.]+)\s*(<=|>=|<|>)\s*([0-9.]+)\s*([a-zµ%]*)\s*$/i.exec(text);
  if (m === null)
    throw new InvalidOptionError(
      'threshold',
      `expected METRIC<VALUE such as p99<250ms, got ${JSON.stringify(text)}`,
    );
  const metric = m[1]!.toLowerCase();
  const op = m[2] as Threshold['op'];
  const number = Number(m[3]);
  const unit = m[4]!.toLowerCase();
  if (!Number.isFinite(number))
    throw new InvalidOptionError('threshold', `bad number in ${JSON.stringify(text)}`);
  if (LATENCY.test(metric)) {
    if (metric.startsWith('p')) {
      const p = Number(metric.slice(1));
      if (!(p > 0 && p <= 100))
        throw new InvalidOptionError(
          'threshold',
          `percentile out of range in ${JSON.stringify(text)}`,
        );
    }
    if (unit === '' || unit === '%') {
      throw new InvalidOptionError(
        'threshold',
        `${JSON.stringify(text)}: give a time unit (us, ms, s)`,
      );
    }
    return {
      text,
      metric,
      op,
      value: parseDuration('threshold', `${m[3]}${unit}`) * 1000,
      isShare: false,
    };
  }
  if (metric === 'errors' || metric === 'non2xx') {
    if (unit !== '' && unit !== '%')
      throw new InvalidOptionError(
        'threshold',
        `unknown unit "${m[4]}" in ${JSON.stringify(text)}`,
      );
    return { text, metric, op, value: unit === '%' ? number / 100 : number, isShare: unit === '%' };
  }
  if (metric === 'rps') {
    if (unit !== '')
      throw new InvalidOptionError(
        'threshold',
        `unknown unit "${m[4]}" in ${JSON.stringify(text)}`,
      );
    return { text, metric, op, value: number, isShare: false };
  }
  throw new InvalidOptionError(
    'threshold',
    `unknown metric "${m[1]}" (use pN, mean, max, min, stdev, errors, non2xx, rps)`,
  );
}

function non2xx(r: LoadResult): number {
  let n = 0;
  for (const [status, count] of Object.entries(r.statuses)) if (!status.startsWith('2')) n += count;
  return n;
}

/** Checks each threshold against `result`. */
export function checkThresholds(
  result: LoadResult,
  thresholds: readonly Threshold[],
): ThresholdOutcome[] {
  const failures = result.errors.connect + result.errors.timeout + result.errors.reset;
  const attempts = result.completed + failures;
  return thresholds.map((t) => {
    let actual: number;
    const lat = result.latency;
    if (t.metric.startsWith('p')) {
      const key = t.metric.slice(1);
      actual = lat.percentiles[key] ?? percentileOf(result, Number(key));
    } else if (t.metric === 'mean') actual = lat.mean;
    else if (t.metric === 'max') actual = lat.max;
    else if (t.metric === 'min') actual = lat.min;
    else if (t.metric === 'stdev') actual = lat.stdev;
    else if (t.metric === 'rps') actual = result.requestsPerSecond;
    else {
      const count = t.metric === 'errors' ? failures + non2xx(result) : non2xx(result);
      actual = t.isShare ? (attempts === 0 ? 0 : count / attempts) : count;
    }
    const isPassed =
      t.op === '<'
        ? actual < t.value
        : t.op === '<='
          ? actual <= t.value
          : t.op === '>'
            ? actual > t.value
            : actual >= t.value;
    const show = (v: number) =>
      LATENCY.test(t.metric)
        ? formatMicros(v)
        : t.isShare
          ? `${(v * 100).toFixed(2)}%`
          : t.metric === 'rps'
            ? v.toFixed(1)
            : String(v);
    return {
      threshold: t,
      actual,
      isPassed,
      message: `${t.metric} ${t.op} ${show(t.value)}: ${show(actual)} ${isPassed ? 'ok' : 'BREACHED'}`,
    };
  });
}

function percentileOf(result: LoadResult, p: number): number {
  return Histogram.fromSnapshot(result.latency.histogram).percentile(p);
}
