import { InvalidOptionError } from '../errors/index.js';
import { formatNumber } from './exposition.js';
import { DEFAULT_BUCKETS } from './histogram-metric.js';
import { parseSloRule, type SloRule } from './slo.js';

/** Options of {@link sloPrometheusRules}. */
export interface SloPrometheusRulesOptions {
  /**
   * The SLOs, as {@link parseSloRule} reads them. Only `error_rate < X` and `pN < T` (or `<=`)
   * have an error budget, so only those are accepted; their `over` window is ignored (the
   * burn-rate windows replace it).
   */
  rules: ReadonlyArray<string | SloRule>;
  /** Label matchers that pick the service's series, PromQL syntax without braces. @defaultValue `''` */
  selector?: string;
  /** Prefix of the request metrics, as given to `RequestMetrics`. @defaultValue `'http_'` */
  prefix?: string;
  /** Labels the ratios keep (one alert per value set). @defaultValue `['job']` */
  by?: readonly string[];
  /**
   * `le` bounds of the request-duration histogram, in seconds: a latency threshold must be one
   * of them, since Prometheus only sees bucket counts.
   * @defaultValue {@link DEFAULT_BUCKETS}
   */
  buckets?: readonly number[];
}

/** One Prometheus recording or alerting rule. */
export interface PrometheusRule {
  record?: string;
  alert?: string;
  expr: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

/** A Prometheus rule file's content (`groups:`). */
export interface PrometheusRuleFile {
  groups: Array<{ name: string; rules: PrometheusRule[] }>;
}

/**
 * The multiwindow, multi-burn-rate table of Google's SRE workbook ("Alerting on SLOs") for a
 * 30-day objective: a page when 2 % of the month's budget burns in 1 h or 5 % in 6 h, a ticket
 * when 10 % burns in 1 day or in 3 days. Each pair's short window makes the alert stop soon
 * after the burn stops.
 */
export const BURN_RATE_WINDOWS = Object.freeze([
  { severity: 'page', long: '1h', short: '5m', factor: 14.4 },
  { severity: 'page', long: '6h', short: '30m', factor: 6 },
  { severity: 'ticket', long: '1d', short: '2h', factor: 3 },
  { severity: 'ticket', long: '3d', short: '6h', factor: 1 },
] as const);

const WINDOWS = ['5m', '30m', '1h', '2h', '6h', '1d', '3d'] as const;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/**
 * Prometheus recording and alerting rules for SLOs: for each objective, the ratio of bad
 * requests (errors; or requests slower than the threshold, read from the histogram's `le`
 * bucket) over 5m, 30m, 1h, 2h, 6h, 1d and 3d, and an `SloErrorBudgetBurn` alert with
 * `severity: page` and one with `severity: ticket` on the {@link BURN_RATE_WINDOWS}.
 * Write it with {@link formatRuleFile}, or run `hotpath slo rules`.
 * @throws {@link SloParseError} `HP_ERR_METRICS_SLO_PARSE` on a rule it cannot read.
 * @throws {@link InvalidOptionError} `HP_ERR_INVALID_OPTION` on a rule with no error budget
 * (`mean`, `max`, `rate`, `>`), or a latency threshold that is not a bucket bound.
 * @example
 * ```ts
 * const file = sloPrometheusRules({ rules: ['p99 < 250ms', 'error_rate < 1%'], selector: 'job="api"' });
 * writeFileSync('rules.yml', formatRuleFile(file));
 * ```
 */
export function sloPrometheusRules(options: SloPrometheusRulesOptions): PrometheusRuleFile {
  if (!Array.isArray(options?.rules) || options.rules.length === 0) {
    throw new InvalidOptionError('rules', 'expected a non-empty array of SLO rules');
  }
  const selector = options.selector ?? '';
  if (typeof selector !== 'string' || /[{}]/.test(selector)) {
    throw new InvalidOptionError('selector', 'expected label matchers without braces');
  }
  const prefix = options.prefix ?? 'http_';
  if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(prefix) && prefix !== '') {
    throw new InvalidOptionError('prefix', `"${prefix}" is not a metric name prefix`);
  }
  const by = options.by ?? ['job'];
  if (!Array.isArray(by) || by.length === 0 || by.some((l) => !LABEL.test(l))) {
    throw new InvalidOptionError('by', 'expected a non-empty array of label names');
  }
  const buckets = options.buckets ?? DEFAULT_BUCKETS;
  const groups: PrometheusRuleFile['groups'] = [];
  const seen = new Set<string>();
  for (const r of options.rules) {
    const rule = typeof r === 'string' ? parseSloRule(r) : r;
    const slo = objective(rule, buckets);
    if (seen.has(slo.id)) {
      throw new InvalidOptionError('rules', `two rules define the SLO "${slo.id}"`);
    }
    seen.add(slo.id);
    const level = by.join('_');
    const sum = (metric: string, window: string, extra = ''): string => {
      const matchers = [selector, extra].filter((m) => m !== '').join(',');
      return `sum by (${by.join(', ')}) (rate(${prefix}${metric}{${matchers}}[${window}]))`;
    };
    const recordName = (window: string) => `${level}:slo_${slo.id}:ratio_rate${window}`;
    const rules: PrometheusRule[] = WINDOWS.map((window) => ({
      record: recordName(window),
      expr:
        slo.kind === 'errors'
          ? `${sum('request_errors_total', window)}\n/\n${sum('requests_total', window)}`
          : `(\n  ${sum('request_duration_seconds_count', window)}\n  -\n  ${sum('request_duration_seconds_bucket', window, `le="${slo.le}"`)}\n)\n/\n${sum('request_duration_seconds_count', window)}`,
    }));
    for (const severity of ['page', 'ticket'] as const) {
      const pairs = BURN_RATE_WINDOWS.filter((w) => w.severity === severity);
      const expr = pairs
        .map(
          (w) =>
            `(\n  ${recordName(w.long)} > (${formatNumber(w.factor)} * ${formatNumber(slo.budget)})\n  and\n  ${recordName(w.short)} > (${formatNumber(w.factor)} * ${formatNumber(slo.budget)})\n)`,
        )
        .join('\nor\n');
      rules.push({
        alert: 'SloErrorBudgetBurn',
        expr,
        labels: { severity, slo: slo.id },
        annotations: {
          summary: `${slo.summary} burns its error budget ${severity === 'page' ? 'fast' : 'steadily'}`,
          description: `SLO "${rule.expression.replace(/\s+over\s+.*$/, '')}" (budget ${formatNumber(slo.budget * 100)} % of requests): ${pairs
            .map((w) => `${formatNumber(w.factor)}x over ${w.long} and ${w.short}`)
            .join(', or ')}.`,
        },
      });
    }
    groups.push({ name: `slo-${slo.id}`, rules });
  }
  return { groups };
}

interface Objective {
  id: string;
  kind: 'errors' | 'latency';
  /** Share of requests allowed to be bad. */
  budget: number;
  /** For latency: the `le` label value of the threshold's bucket. */
  le?: string;
  summary: string;
}

function objective(rule: SloRule, buckets: readonly number[]): Objective {
  const { subject } = rule;
  if (rule.op !== '<' && rule.op !== '<=') {
    throw new InvalidOptionError('rules', `"${rule.expression}" has no error budget (use < or <=)`);
  }
  if (subject.kind === 'error_rate') {
    if (!(rule.threshold > 0 && rule.threshold < 1)) {
      throw new InvalidOptionError('rules', `"${rule.expression}": the rate must be in (0, 100%)`);
    }
    return {
      id: 'errors',
      kind: 'errors',
      budget: rule.threshold,
      summary: 'The error rate',
    };
  }
  if (subject.kind === 'percentile') {
    if (subject.p >= 100) {
      throw new InvalidOptionError('rules', `"${rule.expression}": p100 has no error budget`);
    }
    const seconds = rule.threshold / 1000;
    const bound = buckets.find((b) => Math.abs(b - seconds) <= 1e-9 * seconds);
    if (bound === undefined) {
      throw new InvalidOptionError(
        'rules',
        `"${rule.expression}": ${formatNumber(seconds)} s is not a bucket bound of the duration histogram (${buckets.map(formatNumber).join(', ')})`,
      );
    }
    const ms = formatNumber(rule.threshold).replace('.', '_');
    // p99.9 leaves 0.1 %: computed in per-mille steps so 100 - 99.9 does not become 0.0999...
    const budget = Math.round((100 - subject.p) * 1e6) / 1e8;
    return {
      id: `latency_over_${ms}ms`,
      kind: 'latency',
      budget,
      le: formatNumber(bound),
      summary: `The share of requests slower than ${formatNumber(rule.threshold)} ms`,
    };
  }
  throw new InvalidOptionError(
    'rules',
    `"${rule.expression}" has no error budget: only error_rate and percentile rules become burn-rate alerts`,
  );
}

/**
 * The rule file as YAML, ready for Prometheus' `rule_files` and `promtool check rules`.
 * Expressions are literal blocks; other strings are quoted as Prettier quotes them.
 */
export function formatRuleFile(file: PrometheusRuleFile, header?: string): string {
  const out: string[] = [];
  if (header !== undefined) for (const line of header.split('\n')) out.push(`# ${line}`.trimEnd());
  out.push('groups:');
  for (const group of file.groups) {
    out.push(`  - name: ${yamlString(group.name)}`, '    rules:');
    for (const rule of group.rules) {
      out.push(
        rule.record !== undefined
          ? `      - record: ${yamlString(rule.record)}`
          : `      - alert: ${yamlString(rule.alert ?? '')}`,
      );
      out.push('        expr: |-');
      for (const line of rule.expr.split('\n')) out.push(`          ${line}`);
      for (const key of ['labels', 'annotations'] as const) {
        const map = rule[key];
        if (map === undefined) continue;
        out.push(`        ${key}:`);
        for (const [k, v] of Object.entries(map)) out.push(`          ${k}: ${yamlString(v)}`);
      }
    }
  }
  return `${out.join('\n')}\n`;
}

/** A YAML flow scalar: single-quoted (`''` escapes a quote), or double-quoted when multi-line. */
function yamlString(value: string): string {
  return /[\n\r]/.test(value) ? JSON.stringify(value) : `'${value.replaceAll("'", "''")}'`;
}
