/**
 * The experiments' HTML report: one self-contained page (inline CSS and SVG, no script) with,
 * per experiment, the table, p99 over time of one round per variant, latency by percentile
 * over all rounds, and CPU per request. Each variant also gets hotpath/load's own report page
 * (renderHtmlReport, the naive variant as its baseline).
 */
import { mergeResults, renderHtmlReport, type LoadResult } from 'hotpath/load';
import type { ExperimentOutcome } from './outcome.js';
import { experimentMarkdown } from './report-markdown.js';

const COLORS = ['#c0392b', '#2471a3', '#1e8449', '#7d3c98'];
const W = 560;
const H = 220;
const PAD = { left: 56, right: 12, top: 12, bottom: 30 };

const esc = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

interface Series {
  label: string;
  points: [number, number][];
}

function niceMax(x: number): number {
  if (!(x > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(x));
  for (const m of [1, 2, 5, 10]) if (m * p >= x) return m * p;
  return 10 * p;
}

/** A line chart; `xTicks` label positions of the x axis. */
function lineChart(
  series: Series[],
  title: string,
  yUnit: string,
  xTicks: { at: number; label: string }[],
): string {
  const all = series.flatMap((s) => s.points);
  const xMin = Math.min(...all.map((p) => p[0]), ...xTicks.map((t) => t.at));
  const xMax = Math.max(...all.map((p) => p[0]), ...xTicks.map((t) => t.at));
  const yMax = niceMax(Math.max(...all.map((p) => p[1])));
  const x = (v: number) =>
    PAD.left + ((v - xMin) / Math.max(1e-9, xMax - xMin)) * (W - PAD.left - PAD.right);
  const y = (v: number) => H - PAD.bottom - (v / yMax) * (H - PAD.top - PAD.bottom);
  const parts: string[] = [];
  parts.push(
    `<svg viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${esc(title)}">`,
  );
  for (const f of [0, 0.25, 0.5, 0.75, 1]) {
    const v = yMax * f;
    parts.push(
      `<line x1="${PAD.left}" x2="${W - PAD.right}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/>`,
      `<text x="${PAD.left - 4}" y="${y(v) + 4}" text-anchor="end">${+v.toPrecision(3)} ${yUnit}</text>`,
    );
  }
  for (const t of xTicks) {
    parts.push(`<text x="${x(t.at)}" y="${H - 10}" text-anchor="middle">${esc(t.label)}</text>`);
  }
  series.forEach((s, i) => {
    const d = s.points.map(
      (p, j) => `${j === 0 ? 'M' : 'L'}${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`,
    );
    parts.push(
      `<path d="${d.join('')}" fill="none" stroke="${COLORS[i % COLORS.length]}" stroke-width="2"/>`,
    );
  });
  parts.push('</svg>');
  return `<figure><figcaption>${esc(title)}</figcaption>${parts.join('')}${legend(series.map((s) => s.label))}</figure>`;
}

function barChart(bars: { label: string; value: number }[], title: string, unit: string): string {
  const max = niceMax(Math.max(...bars.map((b) => b.value).filter(Number.isFinite), 0));
  const rowH = 26;
  const h = bars.length * rowH + 10;
  const parts = [
    `<svg viewBox="0 0 ${W} ${h}" width="${W}" height="${h}" role="img" aria-label="${esc(title)}">`,
  ];
  bars.forEach((b, i) => {
    const w = Number.isFinite(b.value) ? (b.value / max) * (W - 220) : 0;
    parts.push(
      `<text x="150" y="${i * rowH + 20}" text-anchor="end">${esc(b.label)}</text>`,
      `<rect x="156" y="${i * rowH + 6}" width="${w.toFixed(1)}" height="18" fill="${COLORS[i % COLORS.length]}"/>`,
      `<text x="${160 + w}" y="${i * rowH + 20}">${Number.isFinite(b.value) ? b.value.toFixed(3) : 'n/a'} ${unit}</text>`,
    );
  });
  parts.push('</svg>');
  return `<figure><figcaption>${esc(title)}</figcaption>${parts.join('')}</figure>`;
}

function legend(labels: string[]): string {
  return `<p class="legend">${labels
    .map((l, i) => `<span style="color:${COLORS[i % COLORS.length]}">&#9632;</span> ${esc(l)}`)
    .join(' &nbsp; ')}</p>`;
}

const PERCENTILE_KEYS = ['50', '75', '90', '95', '99', '99.9', '99.99'];
/** x position of a percentile: -log10(1 - q), so 90, 99, 99.9 are evenly spaced. */
const nines = (q: number) => -Math.log10(1 - q / 100);

/** Markdown tables -> HTML tables (the report's own tables only: pipes, bold, no nesting). */
function tableHtml(markdown: string): string {
  // One table per block of consecutive table lines.
  const blocks: string[][] = [];
  let block: string[] | null = null;
  for (const line of markdown.split('\n')) {
    if (!line.startsWith('|')) {
      block = null;
      continue;
    }
    if (block === null) blocks.push((block = []));
    if (!line.startsWith('|---')) block.push(line);
  }
  return blocks.map(oneTable).join('\n');
}

function oneTable(rows: string[]): string {
  return `<table>${rows
    .map((row, i) => {
      const cells = row
        .slice(1, -1)
        .split('|')
        .map((c) => c.trim());
      const tag = i === 0 ? 'th' : 'td';
      return `<tr>${cells.map((c) => `<${tag}>${esc(c).replace(/\*\*(.+?)\*\*/g, '<b>$1</b>')}</${tag}>`).join('')}</tr>`;
    })
    .join('')}</table>`;
}

/** Writes nothing; returns the page and the per-variant pages (file name -> HTML). */
export function renderExperimentsHtml(
  outcomes: readonly ExperimentOutcome[],
  heading: string,
): { page: string; variantPages: Record<string, string> } {
  const variantPages: Record<string, string> = {};
  const sections = outcomes.map((o) => {
    const merged = o.variants.map((v) =>
      v.results.length > 0 ? mergeResults(v.results as LoadResult[]) : undefined,
    );
    const links: string[] = [];
    o.variants.forEach((v, i) => {
      const result = merged[i];
      if (result === undefined) return;
      const file = `${o.name}-${v.name.replace(/[^a-z0-9]+/gi, '-').toLowerCase()}.html`;
      const base = merged[0];
      variantPages[file] = renderHtmlReport(result, {
        title: `${o.name}: ${v.name} (all rounds merged)`,
        ...(i > 0 && base !== undefined ? { baseline: base } : {}),
      });
      links.push(`<a href="${file}">${esc(v.name)}</a>`);
    });
    const overTime: Series[] = o.variants.map((v) => ({
      label: v.name,
      points: (v.results.at(-1)?.timeline ?? []).map(
        (t) => [t.second, t.p99 / 1000] as [number, number],
      ),
    }));
    const byPercentile: Series[] = o.variants.map((v, i) => ({
      label: v.name,
      points: PERCENTILE_KEYS.map(
        (k) =>
          [nines(Number(k)), (merged[i]?.latency.percentiles[k] ?? 0) / 1000] as [number, number],
      ),
    }));
    const md = experimentMarkdown(o);
    return `<section><h2>${esc(o.name)}: ${esc(o.technique)}</h2>
<p>${esc(o.description)}</p>
<p>Data set ${o.dataset.users} users, ${o.dataset.payments} payments; common rate ${o.commonRate} req/s (${esc(o.rateBasis)}).</p>
${tableHtml(md)}
<p>${esc(o.reports)}</p>
${o.warnings.length > 0 ? `<ul class="warn">${o.warnings.map((w) => `<li>${esc(w)}</li>`).join('')}</ul>` : ''}
<div class="charts">
${lineChart(
  overTime,
  'p99 per second, last round (from intended send)',
  'ms',
  overTime[0]!.points.map((p) => ({ at: p[0], label: `${p[0]} s` })),
)}
${lineChart(
  byPercentile,
  'latency by percentile, all rounds merged',
  'ms',
  PERCENTILE_KEYS.map((k) => ({ at: nines(Number(k)), label: k })),
)}
${barChart(
  o.variants.map((v) => ({ label: v.name, value: v.medians.cpuPerRequestMs })),
  'server CPU per request (median of rounds)',
  'ms',
)}
</div>
<p>hotpath/load reports: ${links.join(', ')}</p>
</section>`;
  });
  const page = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>hotpath experiments</title>
<style>body{font:14px system-ui,sans-serif;margin:2em;max-width:1200px}table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}.charts{display:flex;flex-wrap:wrap;gap:1em}figure{margin:0}figcaption{font-weight:600}svg text{font-size:11px;fill:#333}.legend{margin:0}.warn{color:#a04000}</style>
</head><body><h1>hotpath experiments</h1><p>${esc(heading)}</p>${sections.join('\n')}</body></html>`;
  return { page, variantPages };
}
