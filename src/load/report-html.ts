/**
 * The HTML report: one self-contained file (inline CSS and SVG, no script, no network) with
 * the summary, warnings, and three plots: latency over time, the percentile distribution and
 * requests per second over time. With a baseline, the distribution shows both runs and a
 * comparison table follows.
 */
import { Histogram } from '../metrics/index.js';
import { compareResults } from './compare.js';
import type { LatencySummary, LoadResult } from './result.js';
import { PERCENTILES } from './result.js';
import { escapeHtml, lineChart, type Series } from './svg-chart.js';
import { formatBytes, formatMicros } from './units.js';

/** Points of the percentile curve: x = -log10(1 - p/100), so 90% is 1, 99% 2, 99.9% 3. */
function percentileCurve(l: LatencySummary): [number, number][] {
  if (l.count === 0) return [];
  const h = Histogram.fromSnapshot(l.histogram);
  const xMax = Math.min(5, Math.max(1, Math.log10(l.count)));
  const points: [number, number][] = [];
  for (let x = 0; x <= xMax + 1e-9; x += 0.05) {
    const p = 100 * (1 - 10 ** -x);
    points.push([x, h.percentile(Math.min(100, p)) / 1000]);
  }
  points.push([xMax, l.max / 1000]);
  return points;
}

const PERCENTILE_TICKS: [number, string][] = [
  [0, '0%'],
  [1, '90%'],
  [2, '99%'],
  [3, '99.9%'],
  [4, '99.99%'],
  [5, '99.999%'],
];

const CSS = `
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;margin:24px auto;max-width:1000px;color:#1b1f24;padding:0 16px}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 8px}
.sub{color:#57606a;margin:0 0 16px}
table{border-collapse:collapse;margin:8px 0}td,th{padding:3px 10px;text-align:right;border-bottom:1px solid #e5e7eb}
td:first-child,th:first-child{text-align:left}
.warn{background:#fff4e5;border-left:4px solid #e8590c;padding:8px 12px;margin:8px 0}
.ok{color:#2b8a3e}.bad{color:#c92a2a}
svg.chart{max-width:100%;height:auto;display:block;margin:8px 0}
svg .grid{stroke:#eef0f2}svg .axis{stroke:#8c959f}svg .tick,svg .legend{font-size:11px;fill:#57606a}
svg .label{font-size:12px;fill:#1b1f24}svg .chart-title{font-size:13px;font-weight:600;fill:#1b1f24}
`;

function latencyTable(rows: [string, LatencySummary][]): string {
  const head = ['', ...PERCENTILES.map((p) => `p${p}`), 'max', 'mean', 'stdev'];
  const body = rows.map(
    ([label, l]) =>
      `<tr><td>${escapeHtml(label)}</td>${PERCENTILES.map((p) => `<td>${formatMicros(l.percentiles[String(p)] ?? 0)}</td>`).join('')}<td>${formatMicros(l.max)}</td><td>${formatMicros(l.mean)}</td><td>${formatMicros(l.stdev)}</td></tr>`,
  );
  return `<table><tr>${head.map((h) => `<th>${escapeHtml(h)}</th>`).join('')}</tr>${body.join('')}</table>`;
}

/** The per-name table: requests, rate, latency, errors, non-2xx and failed checks by name. */
function byNameTable(r: LoadResult): string {
  const entries = Object.entries(r.byName ?? {});
  if (entries.length === 0) return '';
  const hasChecks = entries.some(([, n]) => n.checks.checked > 0);
  const head = [
    'name',
    'requests',
    'req/s',
    'p50',
    'p90',
    'p99',
    'p99.9',
    'max',
    'errors',
    'non-2xx',
  ];
  if (hasChecks) head.push('checks failed');
  const rows = entries.map(([name, n]) => {
    const l = n.latency;
    let non2xx = 0;
    for (const [s, c] of Object.entries(n.statuses)) if (!s.startsWith('2')) non2xx += c;
    const failures = n.errors.connect + n.errors.timeout + n.errors.reset;
    const cells = [
      escapeHtml(name),
      String(n.completed),
      n.requestsPerSecond.toFixed(1),
      ...['50', '90', '99', '99.9'].map((p) => formatMicros(l.percentiles[p] ?? 0)),
      formatMicros(l.max),
      `<span class="${failures > 0 ? 'bad' : ''}">${failures}</span>`,
      String(non2xx),
    ];
    if (hasChecks) {
      const c = n.checks;
      const why = Object.entries(c.failures)
        .map(([k, v]) => `${k}: ${v}`)
        .join(', ');
      cells.push(
        c.checked === 0
          ? '-'
          : `<span class="${c.failed > 0 ? 'bad' : 'ok'}">${c.failed} of ${c.checked}</span>${why === '' ? '' : ` (${escapeHtml(why)})`}`,
      );
    }
    return `<tr>${cells.map((c) => `<td>${c}</td>`).join('')}</tr>`;
  });
  return `<h2>By request name</h2><table id="by-name"><tr>${head.map((h) => `<th>${h}</th>`).join('')}</tr>${rows.join('')}</table>`;
}

/**
 * Latency rows by status class (`2xx responses`, `4xx responses`, ...), when the responses
 * fall in more than one class: admitted requests apart from refusals.
 */
function statusClassRows(r: LoadResult): [string, LatencySummary][] {
  const entries = Object.entries(r.byStatusClass ?? {});
  if (entries.length < 2) return [];
  return entries.map(([cls, l]) => [`${cls} responses`, l]);
}

/** Options of {@link renderHtmlReport}. */
export interface HtmlReportOptions {
  /** An earlier result to compare against. */
  baseline?: LoadResult;
  /** Report title. @defaultValue "hotpath load report" */
  title?: string;
}

/**
 * Renders `result` as a self-contained HTML page (inline CSS and SVG, no script, no network).
 * @example
 * ```ts
 * writeFileSync('report.html', renderHtmlReport(await load(options), { baseline: before }));
 * ```
 */
export function renderHtmlReport(result: LoadResult, options: HtmlReportOptions = {}): string {
  const title = options.title ?? 'hotpath load report';
  const r = result;
  const t = r.timeline;
  const model =
    r.model === 'open'
      ? `open model at ${r.rate ?? 0} req/s (up to ${r.connections} connections)`
      : `closed model, ${r.connections} connections${r.pipelining > 1 ? `, pipelining ${r.pipelining}` : ''}`;
  let non2xx = 0;
  for (const [s, n] of Object.entries(r.statuses)) if (!s.startsWith('2')) non2xx += n;
  const rows: [string, LatencySummary][] =
    r.model === 'open'
      ? [
          ['from intended send', r.latency],
          ['from actual send', r.actualLatency],
        ]
      : [['per request', r.latency]];
  const classes = statusClassRows(r);
  rows.push(...classes);
  const overTime = lineChart(
    [
      { name: 'p50', color: '#1971c2', points: t.map((p) => [p.second + 1, p.p50 / 1000]) },
      { name: 'p99', color: '#e8590c', points: t.map((p) => [p.second + 1, p.p99 / 1000]) },
      {
        name: 'max',
        color: '#c92a2a',
        points: t.map((p) => [p.second + 1, p.max / 1000]),
        isDashed: true,
      },
    ],
    {
      id: 'latency-over-time',
      title: 'Latency over time (from intended send)',
      xLabel: 'second',
      yLabel: 'ms',
    },
  );
  const dist: Series[] = [
    { name: 'from intended send', color: '#e8590c', points: percentileCurve(r.latency) },
  ];
  if (r.model === 'open')
    dist.push({
      name: 'from actual send',
      color: '#1971c2',
      points: percentileCurve(r.actualLatency),
    });
  const admitted = classes.find(([label]) => label.startsWith('2xx'));
  if (admitted !== undefined)
    dist.push({ name: admitted[0], color: '#2f9e44', points: percentileCurve(admitted[1]) });
  if (options.baseline !== undefined) {
    dist.push({
      name: 'baseline',
      color: '#868e96',
      points: percentileCurve(options.baseline.latency),
      isDashed: true,
    });
  }
  const distribution = lineChart(dist, {
    id: 'percentile-distribution',
    title: 'Latency by percentile',
    xLabel: 'percentile',
    yLabel: 'ms',
    xTicks: PERCENTILE_TICKS.filter(
      ([x]) => x <= Math.max(1, Math.ceil(Math.log10(Math.max(10, r.latency.count)))),
    ),
  });
  // The last point may cover part of a second: scale it, and leave out slivers too short to
  // say much.
  const perSecond = t.filter((p) => p.durationMs >= 250);
  const scale = (p: (typeof t)[number], n: number) => (n * 1000) / p.durationMs;
  const rps: Series[] = [
    {
      name: 'responses/s',
      color: '#2b8a3e',
      points: perSecond.map((p) => [p.second + 1, scale(p, p.requests)]),
    },
  ];
  if (r.model === 'open') {
    rps.push({
      name: 'target rate',
      color: '#868e96',
      points: perSecond.map((p) => [p.second + 1, p.targetRate ?? 0]),
      isDashed: true,
    });
  }
  if (t.some((p) => p.errors + p.non2xx > 0)) {
    rps.push({
      name: 'errors + non-2xx /s',
      color: '#c92a2a',
      points: perSecond.map((p) => [p.second + 1, scale(p, p.errors + p.non2xx)]),
    });
  }
  if (t.some((p) => (p.checksFailed ?? 0) > 0)) {
    rps.push({
      name: 'failed checks /s',
      color: '#9c36b5',
      points: perSecond.map((p) => [p.second + 1, scale(p, p.checksFailed ?? 0)]),
      isDashed: true,
    });
  }
  const throughput = lineChart(rps, {
    id: 'requests-over-time',
    title: 'Requests per second',
    xLabel: 'second',
    yLabel: 'req/s',
  });
  let comparison = '';
  if (options.baseline !== undefined) {
    const cmp = compareResults(options.baseline, r);
    const show = (m: string, v: number) =>
      m === 'rps' ? v.toFixed(1) : m === 'errors' ? `${(v * 100).toFixed(2)}%` : formatMicros(v);
    comparison = `<h2>Compared with the baseline</h2><table><tr><th>metric</th><th>baseline</th><th>this run</th><th>delta</th><th>verdict</th></tr>${cmp
      .map(
        (c) =>
          `<tr><td>${c.metric}</td><td>${show(c.metric, c.base)}</td><td>${show(c.metric, c.current)}</td><td>${(c.relative * 100).toFixed(1)}%</td><td class="${c.isNoise ? '' : c.isBetter ? 'ok' : 'bad'}">${c.isNoise ? 'within noise' : c.isBetter ? 'better' : 'worse'}</td></tr>`,
      )
      .join('')}</table>`;
  }
  const warnings = r.generator.warnings
    .map((w) => `<div class="warn">${escapeHtml(w)}</div>`)
    .join('');
  const statuses = Object.entries(r.statuses)
    .map(([s, n]) => `${s}: ${n}`)
    .join(', ');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${escapeHtml(title)}</title><style>${CSS}</style></head><body>
<h1>${escapeHtml(title)}</h1>
<p class="sub">${escapeHtml(r.url)}: ${escapeHtml(model)}, ${(r.durationMs / 1000).toFixed(1)} s from ${escapeHtml(r.startedAt)}${r.workers > 1 ? `, ${r.workers} workers` : ''}${r.isInterrupted ? ' (interrupted)' : ''}</p>
${warnings}
<h2>Summary</h2>
<table>
<tr><td>throughput</td><td>${r.requestsPerSecond.toFixed(1)} req/s (${r.completed} responses, ${r.sent} sent)</td></tr>
<tr><td>bytes</td><td>${formatBytes(r.bytesRead)} read, ${formatBytes(r.bytesWritten)} written</td></tr>
<tr><td>statuses</td><td>${escapeHtml(statuses || '-')}</td></tr>
<tr><td>errors</td><td>connect ${r.errors.connect}, timeout ${r.errors.timeout}, reset ${r.errors.reset}, non-2xx ${non2xx}</td></tr>
${r.checks !== undefined && r.checks.checked > 0 ? `<tr><td>checks</td><td>${r.checks.checked} checked, ${r.checks.failed} failed (${((r.checks.failed / r.checks.checked) * 100).toFixed(2)}%)</td></tr>` : ''}
</table>
<h2>Latency</h2>
${latencyTable(rows)}
${byNameTable(r)}
${comparison}
<h2>Plots</h2>
${overTime}
${distribution}
${throughput}
</body></html>
`;
}
