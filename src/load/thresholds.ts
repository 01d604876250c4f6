/**
 * Pass/fail thresholds for CI gates: `p99<250ms`, `mean<=20ms`, `errors<1%`, `non2xx<10`,
 * `rps>=1000`, `checks_failed<1%`. Latency thresholds read the latency from the intended send
 * time. A `{name=NAME}` selector after the metric (`p99{name=create}<250ms`) reads the
 * requests of that name only; a `{status=2xx}` selector (`p99{status=2xx}<100ms`,
 * `rps{status=2xx}>=500`) reads the responses of that status class only, so admitted requests
 * are judged apart from fast refusals.
 */
import { InvalidOptionError } from '../errors/index.js';
import { Histogram } from '../metrics/index.js';
import type { LatencySummary, LoadResult } from './result.js';
import { formatMicros, parseDuration } from './units.js';

/** A parsed threshold. */
export interface Threshold {
  /** The text as given. */
  text: string;
  /** `p<N>`, `mean`, `max`, `min`, `stdev`, `errors`, `non2xx`, `rps` or `checks_failed`. */
  metric: string;
  /** The request name it applies to (`{name=...}`); absent for the whole run. */
  name?: string;
  /**
   * The status class it applies to (`{status=2xx}`: `'1xx'` to `'5xx'`), for latency metrics
   * and `rps`; absent for every response.
   */
  statusClass?: string;
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
  // The name runs to the last "}" before the operator: default names hold template braces.
  const m =
    /^\s*([a-z0-9._]+)\s*(?:\{\s*(name|status)\s*=(.*)\}\s*)?(<=|>=|<|>)\s*([0-9.]+)\s*([a-zµ%]*)\s*$/i.exec(
      text,
    );
  if (m === null)
    throw new InvalidOptionError(
      'threshold',
      `expected METRIC<VALUE such as p99<250ms, p99{name=create}<250ms or p99{status=2xx}<250ms, got ${JSON.stringify(text)}`,
    );
  const parsed = parseBody(text, m[1]!, m[4]!, m[5]!, m[6]!);
  if (m[2] === undefined) return parsed;
  if (m[2].toLowerCase() === 'status') {
    const cls = m[3]!.trim().toLowerCase();
    if (!/^[1-5]xx$/.test(cls))
      throw new InvalidOptionError(
        'threshold',
        `status class must be 1xx to 5xx in ${JSON.stringify(text)}`,
      );
    if (!LATENCY.test(parsed.metric) && parsed.metric !== 'rps')
      throw new InvalidOptionError(
        'threshold',
        `${JSON.stringify(text)}: a {status=...} selector applies to latencies and rps only`,
      );
    return { ...parsed, statusClass: cls };
  }
  let name = m[3]!.trim();
  if (name.length >= 2 && /^(["']).*\1$/.test(name)) name = name.slice(1, -1);
  if (name === '')
    throw new InvalidOptionError('threshold', `empty name in ${JSON.stringify(text)}`);
  return { ...parsed, name };
}

function parseBody(
  text: string,
  rawMetric: string,
  rawOp: string,
  rawValue: string,
  rawUnit: string,
): Threshold {
  const m = [text, rawMetric, rawOp, rawValue, rawUnit] as const;
  const metric = m[1].toLowerCase();
  const op = m[2] as Threshold['op'];
  const number = Number(m[3]);
  const unit = m[4].toLowerCase();
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
  if (metric === 'errors' || metric === 'non2xx' || metric === 'checks_failed') {
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
    `unknown metric "${m[1]}" (use pN, mean, max, min, stdev, errors, non2xx, rps, checks_failed)`,
  );
}

function non2xx(statuses: Record<string, number>): number {
  let n = 0;
  for (const [status, count] of Object.entries(statuses)) if (!status.startsWith('2')) n += count;
  return n;
}

/** What a threshold reads: the whole run, or one request name's figures. */
type Subject = Pick<
  LoadResult,
  'completed' | 'requestsPerSecond' | 'statuses' | 'errors' | 'latency' | 'checks'
>;

function subjectOf(result: LoadResult, name: string | undefined): Subject | string {
  if (name === undefined) return result;
  const n = result.byName?.[name];
  if (n !== undefined) return n;
  const known = Object.keys(result.byName ?? {});
  return known.length === 0
    ? 'the result has no per-name figures'
    : `no requests named ${JSON.stringify(name)} (names: ${known.map((k) => JSON.stringify(k)).join(', ')})`;
}

/**
 * The names thresholds refer to that are not among `names`: a gate on a misspelt name would
 * otherwise only fail after the run.
 */
export function unknownThresholdNames(
  thresholds: readonly Threshold[],
  names: readonly string[],
): string[] {
  const known = new Set(names);
  return [
    ...new Set(
      thresholds.flatMap((t) => (t.name !== undefined && !known.has(t.name) ? [t.name] : [])),
    ),
  ];
}

/**
 * Checks each threshold against `result`. A threshold on a name the result does not hold is
 * breached, with a message that lists the names it does hold.
 */
export function checkThresholds(
  result: LoadResult,
  thresholds: readonly Threshold[],
): ThresholdOutcome[] {
  return thresholds.map((t) => {
    const label =
      t.statusClass !== undefined
        ? `${t.metric}{status=${t.statusClass}}`
        : t.name === undefined
          ? t.metric
          : `${t.metric}{name=${t.name}}`;
    const subject =
      t.statusClass === undefined ? subjectOf(result, t.name) : classSubject(result, t.statusClass);
    if (typeof subject === 'string') {
      return {
        threshold: t,
        actual: Number.NaN,
        isPassed: false,
        message: `${t.text.trim()}: ${subject} BREACHED`,
      };
    }
    const failures = subject.errors.connect + subject.errors.timeout + subject.errors.reset;
    const attempts = subject.completed + failures;
    let actual: number;
    const lat = subject.latency;
    if (t.metric.startsWith('p')) {
      const key = t.metric.slice(1);
      actual =
        lat.count === 0 && t.statusClass !== undefined
          ? Number.NaN
          : (lat.percentiles[key] ?? percentileOf(lat, Number(key)));
    } else if (t.metric === 'mean') actual = lat.mean;
    else if (t.metric === 'max') actual = lat.max;
    else if (t.metric === 'min') actual = lat.min;
    else if (t.metric === 'stdev') actual = lat.stdev;
    else if (t.metric === 'rps') actual = subject.requestsPerSecond;
    else if (t.metric === 'checks_failed') {
      // A share of the responses judged by a check; transport errors are `errors`.
      const c = subject.checks ?? { checked: 0, failed: 0 };
      actual = t.isShare ? (c.checked === 0 ? 0 : c.failed / c.checked) : c.failed;
    } else {
      const bad = non2xx(subject.statuses);
      const count = t.metric === 'errors' ? failures + bad : bad;
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
      message: `${label} ${t.op} ${show(t.value)}: ${Number.isNaN(actual) ? 'no responses' : show(actual)} ${isPassed ? 'ok' : 'BREACHED'}`,
    };
  });
}

/**
 * The responses of one status class as a subject: their latency and rate; no failures (a
 * failure has no status) and every status in the class.
 */
function classSubject(result: LoadResult, cls: string): Subject | string {
  if (result.byStatusClass === undefined) return 'the result has no latency by status class';
  const latency = result.byStatusClass[cls];
  const count = latency?.count ?? 0;
  const statuses: Record<string, number> = {};
  for (const [code, n] of Object.entries(result.statuses))
    if (`${code[0]}xx` === cls) statuses[code] = n;
  return {
    completed: count,
    requestsPerSecond: result.durationMs > 0 ? (count * 1000) / result.durationMs : 0,
    statuses,
    errors: { connect: 0, timeout: 0, reset: 0 },
    // No response of the class: its latency is unknown, not zero.
    latency: latency ?? NO_RESPONSES,
  };
}

const NO_RESPONSES: LatencySummary = {
  count: 0,
  min: Number.NaN,
  max: Number.NaN,
  mean: Number.NaN,
  stdev: Number.NaN,
  percentiles: {},
  histogram: {} as LatencySummary['histogram'],
};

function percentileOf(latency: LatencySummary, p: number): number {
  return Histogram.fromSnapshot(latency.histogram).percentile(p);
}
