/**
 * Plain-text rendering of results for a terminal: the final table, a comparison table and
 * the one-line live progress.
 */
import type { ComparedMetric } from './compare.js';
import type { LoadProgress } from './load.js';
import type { LatencySummary, LoadResult } from './result.js';
import { PERCENTILES } from './result.js';
import { formatBytes, formatMicros } from './units.js';

function row(cells: string[], widths: number[]): string {
  return cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
}

function latencyCells(label: string, l: LatencySummary): string[] {
  return [
    label,
    ...PERCENTILES.map((p) => formatMicros(l.percentiles[String(p)] ?? 0)),
    formatMicros(l.max),
    formatMicros(l.mean),
    formatMicros(l.stdev),
  ];
}

/** The final report table. */
export function formatResult(r: LoadResult): string {
  const lines: string[] = [];
  const secs = (r.durationMs / 1000).toFixed(1);
  const model =
    r.model === 'open'
      ? `open model, ${r.rate ?? 0} req/s target, up to ${r.connections} connections`
      : `closed model, ${r.connections} connections${r.pipelining > 1 ? `, pipelining ${r.pipelining}` : ''}`;
  lines.push(
    `${r.url}  ${model}, ${secs} s${r.workers > 1 ? `, ${r.workers} workers` : ''}${r.isInterrupted ? '  (interrupted: results so far)' : ''}`,
  );
  lines.push('');
  const header = ['latency', ...PERCENTILES.map((p) => `p${p}`), 'max', 'mean', 'stdev'];
  const bodyRows =
    r.model === 'open'
      ? [
          latencyCells('from intended send', r.latency),
          latencyCells('from actual send', r.actualLatency),
        ]
      : [latencyCells('per request', r.latency)];
  // Admitted requests apart from refusals, when the responses fall in more than one class.
  const classes = Object.entries(r.byStatusClass ?? {});
  if (classes.length > 1)
    for (const [cls, l] of classes) bodyRows.push(latencyCells(`${cls} responses`, l));
  if (r.coordinatedOmission?.isAffected) {
    const c = r.coordinatedOmission;
    bodyRows.push([
      'CO-corrected est.',
      '',
      '',
      '',
      '',
      formatMicros(c.correctedP99),
      formatMicros(c.correctedP999),
      '',
      '',
      '',
      '',
    ]);
  }
  const widths = header.map((h, i) =>
    Math.max(h.length, ...bodyRows.map((b) => (b[i] ?? '').length)),
  );
  lines.push(row(header, widths));
  for (const b of bodyRows) lines.push(row(b, widths));
  lines.push('');
  let non2xx = 0;
  for (const [s, n] of Object.entries(r.statuses)) if (!s.startsWith('2')) non2xx += n;
  const failures = r.errors.connect + r.errors.timeout + r.errors.reset;
  lines.push(
    `requests   ${r.completed} completed, ${r.sent} sent, ${r.requestsPerSecond.toFixed(1)} req/s`,
  );
  lines.push(`bytes      ${formatBytes(r.bytesRead)} read, ${formatBytes(r.bytesWritten)} written`);
  const statuses = Object.entries(r.statuses)
    .map(([s, n]) => `${s}: ${n}`)
    .join('  ');
  lines.push(`statuses   ${statuses === '' ? '-' : statuses}`);
  const share = (n: number) =>
    r.completed + failures === 0 ? '0%' : `${((n / (r.completed + failures)) * 100).toFixed(2)}%`;
  lines.push(
    `errors     connect ${r.errors.connect}, timeout ${r.errors.timeout}, reset ${r.errors.reset}, non-2xx ${non2xx}  (${share(failures + non2xx)} of requests)`,
  );
  if (r.checks !== undefined && r.checks.checked > 0) {
    const c = r.checks;
    const reasons = Object.entries(c.failures)
      .map(([k, n]) => `${k} ${n}`)
      .join(', ');
    lines.push(
      `checks     ${c.checked} checked, ${c.failed} failed (${((c.failed / c.checked) * 100).toFixed(2)}%)${reasons === '' ? '' : `: ${reasons}`}`,
    );
  }
  const g = r.generator;
  lines.push(
    `generator  event loop ${(g.eventLoopUtilization * 100).toFixed(0)}% busy, ${g.cpuSeconds.toFixed(2)} CPU-s${r.model === 'open' ? `, p99 send lag ${formatMicros(g.sendLagP99)}` : ''}`,
  );
  for (const w of g.warnings) lines.push(`WARNING    ${w}`);
  const byName = formatByName(r);
  if (byName !== '') lines.push('', byName);
  return lines.join('\n');
}

/**
 * The per-name table (requests, req/s, latency percentiles, errors, non-2xx, failed checks),
 * or '' when the run had a single name and no checks (the totals say it all).
 */
export function formatByName(r: LoadResult): string {
  const entries = Object.entries(r.byName ?? {});
  const hasChecks = entries.some(([, n]) => n.checks.checked > 0);
  if (entries.length === 0 || (entries.length === 1 && !hasChecks)) return '';
  const header = ['by name', 'requests', 'req/s', 'p50', 'p90', 'p99', 'max', 'errors', 'non-2xx'];
  if (hasChecks) header.push('checks failed');
  const cells = entries.map(([name, n]) => {
    const l = n.latency;
    const row = [
      name,
      String(n.completed),
      n.requestsPerSecond.toFixed(1),
      formatMicros(l.percentiles['50'] ?? 0),
      formatMicros(l.percentiles['90'] ?? 0),
      formatMicros(l.percentiles['99'] ?? 0),
      formatMicros(l.max),
      String(n.errors.connect + n.errors.timeout + n.errors.reset),
      String(non2xxOf(n.statuses)),
    ];
    if (hasChecks)
      row.push(n.checks.checked === 0 ? '-' : `${n.checks.failed}/${n.checks.checked}`);
    return row;
  });
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  return [row(header, widths), ...cells.map((c) => row(c, widths))].join('\n');
}

function non2xxOf(statuses: Record<string, number>): number {
  let n = 0;
  for (const [s, count] of Object.entries(statuses)) if (!s.startsWith('2')) n += count;
  return n;
}

/** A comparison table: base, current, delta and whether it is within noise. */
export function formatComparison(rows: readonly ComparedMetric[]): string {
  const show = (m: string, v: number) =>
    m === 'rps' ? v.toFixed(1) : m === 'errors' ? `${(v * 100).toFixed(2)}%` : formatMicros(v);
  const cells = rows.map((r) => [
    r.metric,
    show(r.metric, r.base),
    show(r.metric, r.current),
    `${r.delta >= 0 ? '+' : ''}${(r.relative * 100).toFixed(1)}%`,
    r.isNoise ? 'within noise' : r.isBetter ? 'better' : 'worse',
  ]);
  const header = ['metric', 'base', 'current', 'delta', 'verdict'];
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  return [row(header, widths), ...cells.map((c) => row(c, widths))].join('\n');
}

/**
 * One progress line: elapsed seconds, the rate achieved in the last second, the p99 of the
 * last second, errors and failed checks so far, then the target rate (open model) and the p99
 * of the whole run so far:
 * `  12s     1998 req/s  p99   4.21 ms  errors 0  checks failed 0  (target 2000 req/s, run p99 5.02 ms)`.
 */
export function formatProgress(p: LoadProgress): string {
  const extra: string[] = [];
  if (p.targetRate !== null && p.targetRate !== undefined)
    extra.push(`target ${Math.round(p.targetRate)} req/s`);
  if (p.p99SoFar !== undefined) extra.push(`run p99 ${formatMicros(p.p99SoFar)}`);
  return `${String(p.elapsedSeconds).padStart(4)}s  ${String(p.requestsPerSecond).padStart(7)} req/s  p99 ${formatMicros(p.p99).padStart(9)}  errors ${p.errors}${p.non2xx > 0 ? `  non-2xx ${p.non2xx}/s` : ''}  checks failed ${p.checksFailed ?? 0}${extra.length > 0 ? `  (${extra.join(', ')})` : ''}`;
}
