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
   * @defaultValue 0.5
   */
  sliceMs?: number;
  /** Aborts the exposition between slices. */
  signal?: AbortSignal;
}

/**
 * Writes families in the Prometheus text format 0.0.4, yielding to the event loop
 * (`setImmediate`) whenever a slice of work has run `sliceMs`, so a scrape of thousands of
 * series never holds the loop for long (bench/metrics/scrape.bench.ts measures it).
 * @throws {@link AbortedError} `HP_ERR_ABORTED` when `signal` aborts.
 */
export async function writeExposition(
  families: Iterable<Family>,
  options: ExpositionOptions = {},
): Promise<string> {
  const sliceMs = options.sliceMs ?? 0.5;
  const signal = options.signal;
  const out: string[] = [];
  let sliceStart = performance.now();
  const pause = async (): Promise<void> => {
    if (performance.now() - sliceStart < sliceMs) return;
    await yieldToLoop();
    if (signal?.aborted)
      throw new AbortedError('metrics exposition aborted', { cause: signal.reason });
    sliceStart = performance.now();
  };
  if (signal?.aborted)
    throw new AbortedError('metrics exposition aborted', { cause: signal.reason });
  for (const family of families) {
    out.push(
      `# HELP ${family.name} ${escapeHelp(family.help)}\n# TYPE ${family.name} ${family.type}\n`,
    );
    for (const { labelValues, value } of family.series) {
      const labels = labelPairs(family.labelNames, labelValues);
      if (typeof value === 'number') {
        out.push(`${family.name}${labels === '' ? '' : `{${labels}}`} ${formatNumber(value)}\n`);
      } else {
        writeHistogram(out, family, labels, value);
      }
      await pause();
    }
    await pause();
  }
  return out.join('');
}

const cumulative: number[] = [];

function writeHistogram(out: string[], family: Family, labels: string, h: Histogram): void {
  const scale = family.scale ?? 1;
  const bounds = family.buckets ?? [];
  const recorded = bounds.map((b) => b / scale);
  h.cumulativeCounts(recorded, cumulative);
  const sep = labels === '' ? '' : ',';
  let text = '';
  for (let k = 0; k < bounds.length; k++) {
    text += `${family.name}_bucket{${labels}${sep}le="${formatNumber(bounds[k]!)}"} ${formatNumber(cumulative[k]!)}\n`;
  }
  const braces = labels === '' ? '' : `{${labels}}`;
  text += `${family.name}_bucket{${labels}${sep}le="+Inf"} ${formatNumber(h.count)}\n`;
  text += `${family.name}_sum${braces} ${formatNumber(h.sum * scale)}\n`;
  text += `${family.name}_count${braces} ${formatNumber(h.count)}\n`;
  out.push(text);
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
