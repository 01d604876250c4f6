import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { AbortedError } from '../errors/index.js';
import type { Histogram } from './histogram.js';
import type { MetricType } from './metric.js';

/** Content type of the Prometheus text format this module writes. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** One metric family ready to be written: a counter/gauge series holds a number. */
export interface Family {
  name: string;
  help: string;
  type: MetricType;
  labelNames: readonly string[];
  /** How remote series of counters and gauges combine. @defaultValue `'sum'` */
  aggregate?: 'sum' | 'max';
  /** For histograms: recorded-to-exposed factor and exposed `le` bounds. */
  scale?: number;
  buckets?: readonly number[];
  series: Iterable<{ labelValues: readonly string[]; value: number | Histogram }>;
}

/** Options of {@link writeExposition}. */
export interface ExpositionOptions {
  /**
   * Longest stretch of synchronous work before yielding to the event loop, in milliseconds.
   * @defaultValue 0.25
   */
  sliceMs?: number;
  /** Aborts the exposition between slices. */
  signal?: AbortSignal;
  /**
   * Labels written first on every series (`{ instance: 'api-1' }`), as a registry's `labels`.
   * Their names must not be among a family's own label names.
   */
  labels?: Readonly<Record<string, string>>;
}

/**
 * Writes families in the Prometheus text format 0.0.4 as chunks: one chunk per slice of at
 * most about `sliceMs` of work, with a yield to the event loop (`setImmediate`) between
 * slices, so a scrape of thousands of series never holds the loop for long and never builds
 * the whole text in one step (bench/metrics/scrape.bench.ts measures it).
 * @throws {@link AbortedError} `HP_ERR_ABORTED` when `signal` aborts.
 */
export async function* expositionChunks(
  families: Iterable<Family>,
  options: ExpositionOptions = {},
): AsyncGenerator<string, void, undefined> {
  const sliceMs = options.sliceMs ?? 0.25;
  const signal = options.signal;
  const aborted = (): AbortedError =>
    new AbortedError('metrics exposition aborted', { cause: signal?.reason });
  if (signal?.aborted) throw aborted();
  let constant = '';
  for (const [name, value] of Object.entries(options.labels ?? {})) {
    constant += `${constant === '' ? '' : ','}${name}="${escapeLabel(value)}"`;
  }
  let chunk = '';
  let sliceStart = performance.now();
  for (const family of families) {
    chunk += `# HELP ${family.name} ${escapeHelp(family.help)}\n# TYPE ${family.name} ${family.type}\n`;
    const recordedBounds =
      family.type === 'histogram' ? (family.buckets ?? []).map((b) => b / (family.scale ?? 1)) : [];
    const le = family.type === 'histogram' ? (family.buckets ?? []).map(formatNumber) : [];
    for (const { labelValues, value } of family.series) {
      const own = labelPairs(family.labelNames, labelValues);
      const labels = constant === '' ? own : own === '' ? constant : `${constant},${own}`;
      if (typeof value === 'number') {
        chunk += `${family.name}${labels === '' ? '' : `{${labels}}`} ${formatNumber(value)}\n`;
      } else {
        chunk += histogramText(family, labels, value, recordedBounds, le);
      }
      if (performance.now() - sliceStart >= sliceMs) {
        yield chunk;
        chunk = '';
        await yieldToLoop();
        if (signal?.aborted) throw aborted();
        sliceStart = performance.now();
      }
    }
  }
  if (chunk !== '') yield chunk;
}

/**
 * The whole exposition as one string (see {@link expositionChunks}).
 * @throws {@link AbortedError} `HP_ERR_ABORTED` when `signal` aborts.
 */
export async function writeExposition(
  families: Iterable<Family>,
  options: ExpositionOptions = {},
): Promise<string> {
  let text = '';
  for await (const chunk of expositionChunks(families, options)) text += chunk;
  return text;
}

const cumulative: number[] = [];

function histogramText(
  family: Family,
  labels: string,
  h: Histogram,
  recordedBounds: readonly number[],
  le: readonly string[],
): string {
  const scale = family.scale ?? 1;
  h.cumulativeCounts(recordedBounds, cumulative);
  const sep = labels === '' ? '' : ',';
  let text = '';
  for (let k = 0; k < le.length; k++) {
    text += `${family.name}_bucket{${labels}${sep}le="${le[k]}"} ${formatNumber(cumulative[k]!)}\n`;
  }
  const braces = labels === '' ? '' : `{${labels}}`;
  text += `${family.name}_bucket{${labels}${sep}le="+Inf"} ${formatNumber(h.count)}\n`;
  text += `${family.name}_sum${braces} ${formatNumber(h.sum * scale)}\n`;
  text += `${family.name}_count${braces} ${formatNumber(h.count)}\n`;
  return text;
}

function labelPairs(names: readonly string[], values: readonly string[]): string {
  let s = '';
  for (let i = 0; i < names.length; i++) {
    if (i > 0) s += ',';
    s += `${names[i]}="${escapeLabel(values[i] ?? '')}"`;
  }
  return s;
}

/** Formats a sample value as the text format wants (`+Inf`, `-Inf`, `NaN`). */
export function formatNumber(n: number): string {
  if (Number.isFinite(n)) return String(n);
  if (Number.isNaN(n)) return 'NaN';
  return n > 0 ? '+Inf' : '-Inf';
}

function escapeLabel(value: string): string {
  return value.replace(/[\\"\n]/g, (c) => (c === '\n' ? '\\n' : `\\${c}`));
}

function escapeHelp(help: string): string {
  return help.replace(/[\\\n]/g, (c) => (c === '\n' ? '\\n' : '\\\\'));
}
