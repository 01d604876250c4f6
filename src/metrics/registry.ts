import { InvalidOptionError } from '../errors/index.js';
import { DuplicateMetricError } from './errors.js';
import {
  PROMETHEUS_CONTENT_TYPE,
  expositionChunks,
  type ExpositionOptions,
  type Family,
} from './exposition.js';
import { Histogram, type HistogramSnapshot } from './histogram.js';
import { HistogramMetric, type HistogramMetricOptions } from './histogram-metric.js';
import { Counter, Gauge, type MetricOptions, type MetricType } from './metric.js';

/** Anything with prom-client's `Registry.metrics()` shape. */
export interface TextSource {
  metrics(): Promise<string> | string;
}

/** A registry's metrics as plain JSON, to send from a worker thread or process to its parent. */
export interface RegistrySnapshot {
  v: 1;
  families: Array<{
    name: string;
    help: string;
    type: MetricType;
    labelNames: string[];
    aggregate?: 'sum' | 'max';
    scale?: number;
    buckets?: number[];
    series: Array<{ labelValues: string[]; value: number | HistogramSnapshot }>;
  }>;
}

type AnyMetric = Counter | Gauge | HistogramMetric;

/** Options of {@link MetricsRegistry}. */
export interface MetricsRegistryOptions {
  /**
   * Labels written on every series this registry exposes, remote series included (not on the
   * text of prom-client sources): `{ instance: 'payments-1' }` tells instances apart. Snapshots
   * do not carry them, so a parent merging workers labels the whole with its own.
   * @defaultValue `{}`
   */
  labels?: Readonly<Record<string, string>>;
}

const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/**
 * A set of metrics exposed together: create metrics through it (`counter`, `gauge`,
 * `histogram`), add prom-client registries to expose alongside, merge the snapshots of worker
 * threads or processes, and write it all in the Prometheus text format without blocking the
 * event loop.
 * @example
 * ```ts
 * const registry = new MetricsRegistry();
 * const jobs = registry.counter({ name: 'app_jobs_total', help: 'Jobs run' });
 * jobs.inc();
 * const text = await registry.metrics();
 * ```
 */
export class MetricsRegistry {
  /** Content type of {@link MetricsRegistry.metrics}' output. */
  readonly contentType = PROMETHEUS_CONTENT_TYPE;
  #metrics = new Map<string, AnyMetric>();
  #sources: TextSource[] = [];
  #remotes = new Map<string, RegistrySnapshot>();
  // Histograms that hold a series' merge, kept between scrapes: a merge then costs no
  // allocation (bench/metrics/cluster-scrape.bench.ts).
  #merged = new Map<string, Histogram>();
  /** Labels on every exposed series. */
  readonly labels: Readonly<Record<string, string>>;

  /** @throws {@link InvalidOptionError} `HP_ERR_INVALID_OPTION` on a bad label name or value. */
  constructor(options: MetricsRegistryOptions = {}) {
    const labels: Record<string, string> = {};
    for (const [name, value] of Object.entries(options.labels ?? {})) {
      if (!LABEL_NAME.test(name) || name.startsWith('__') || name === 'le') {
        throw new InvalidOptionError('labels', `"${name}" is not a label name`);
      }
      if (typeof value !== 'string') {
        throw new InvalidOptionError('labels', `the value of "${name}" must be a string`);
      }
      labels[name] = value;
    }
    this.labels = Object.freeze(labels);
  }

  /**
   * Adds a metric made elsewhere.
   * @throws {@link DuplicateMetricError} `HP_ERR_METRICS_DUPLICATE` when the name is taken.
   */
  register<M extends AnyMetric>(metric: M): M {
    if (this.#metrics.has(metric.name)) {
      throw new DuplicateMetricError(metric.name, `metric ${metric.name} is already registered`);
    }
    const clash = metric.labelNames.find((l) => Object.hasOwn(this.labels, l));
    if (clash !== undefined) {
      throw new InvalidOptionError(
        'labelNames',
        `${metric.name}: "${clash}" is one of the registry's labels`,
      );
    }
    this.#metrics.set(metric.name, metric);
    return metric;
  }

  /** Removes a metric by name; returns whether it was there. */
  unregister(name: string): boolean {
    return this.#metrics.delete(name);
  }

  /** The metric of that name, if any. */
  get(name: string): AnyMetric | undefined {
    return this.#metrics.get(name);
  }

  /**
   * The counter of that name, created on first call.
   * @throws {@link DuplicateMetricError} `HP_ERR_METRICS_DUPLICATE` when the name exists with
   * another type or label names.
   */
  counter(options: MetricOptions): Counter {
    return this.#getOrCreate(options, 'counter', () => new Counter(options)) as Counter;
  }

  /** The gauge of that name, created on first call. @throws {@link DuplicateMetricError} */
  gauge(options: MetricOptions): Gauge {
    return this.#getOrCreate(options, 'gauge', () => new Gauge(options)) as Gauge;
  }

  /** The histogram of that name, created on first call. @throws {@link DuplicateMetricError} */
  histogram(options: HistogramMetricOptions): HistogramMetric {
    return this.#getOrCreate(
      options,
      'histogram',
      () => new HistogramMetric(options),
    ) as HistogramMetric;
  }

  /**
   * Exposes the text of another registry (a prom-client `Registry`, or anything with a
   * `metrics()` method) after this registry's own metrics. Metric names must not collide.
   */
  addTextSource(source: TextSource): void {
    if (source === null || typeof source !== 'object' || typeof source.metrics !== 'function') {
      throw new InvalidOptionError('source', 'expected an object with a metrics() method');
    }
    this.#sources.push(source);
  }

  /** Stops exposing a source added with {@link MetricsRegistry.addTextSource}. */
  removeTextSource(source: TextSource): void {
    this.#sources = this.#sources.filter((s) => s !== source);
  }

  /**
   * Records the latest snapshot of another thread or process (`source` names it); its series
   * are added into this registry's on exposition: counters and gauges summed (or the maximum taken, for
   * metrics made with `aggregate: 'max'`), histograms merged exactly. Pass `undefined` to forget a source that ended.
   */
  setRemote(source: string, snapshot: RegistrySnapshot | undefined): void {
    if (snapshot === undefined) this.#remotes.delete(source);
    else this.#remotes.set(source, snapshot);
  }

  /** The ids of the remote sources currently merged. */
  get remotes(): string[] {
    return [...this.#remotes.keys()];
  }

  /** This registry's own metrics as JSON (no remotes, no text sources). */
  snapshot(): RegistrySnapshot {
    this.#collect();
    const families: RegistrySnapshot['families'] = [];
    for (const metric of this.#metrics.values()) {
      const family: RegistrySnapshot['families'][number] = {
        name: metric.name,
        help: metric.help,
        type: metric.type,
        labelNames: [...metric.labelNames],
        aggregate: metric.aggregate,
        series: [],
      };
      if (metric instanceof HistogramMetric) {
        family.scale = metric.scale;
        family.buckets = [...metric.buckets];
      }
      for (const s of metric.series()) {
        const v = s.value;
        family.series.push({
          labelValues: [...s.labelValues],
          value: v instanceof Histogram ? v.snapshot() : v.value,
        });
      }
      families.push(family);
    }
    return { v: 1, families };
  }

  /**
   * Every metric, remote series merged in, then every text source, in the Prometheus text
   * format 0.0.4. Yields to the event loop between slices of `sliceMs`.
   * @throws {@link AbortedError} `HP_ERR_ABORTED` when `options.signal` aborts.
   */
  async metrics(options: ExpositionOptions = {}): Promise<string> {
    let text = '';
    for await (const chunk of this.stream(options)) text += chunk;
    return text;
  }

  /**
   * The same text as {@link MetricsRegistry.metrics}, as chunks of one slice each: send them
   * as they come (`Readable.from(registry.stream())`) and the full text is never built.
   * @throws {@link AbortedError} `HP_ERR_ABORTED` when `options.signal` aborts.
   */
  async *stream(options: ExpositionOptions = {}): AsyncGenerator<string, void, undefined> {
    this.#collect();
    yield* expositionChunks(
      this.#families(),
      Object.keys(this.labels).length === 0 ? options : { labels: this.labels, ...options },
    );
    for (const source of this.#sources) {
      const more = await source.metrics();
      if (more.length > 0) yield more.endsWith('\n') ? more : `${more}\n`;
    }
  }

  /** Every metric of this registry. */
  [Symbol.iterator](): IterableIterator<AnyMetric> {
    return this.#metrics.values();
  }

  #collect(): void {
    for (const metric of this.#metrics.values()) metric.collect();
  }

  *#families(): Generator<Family> {
    const remoteFamilies = new Map<string, RegistrySnapshot['families']>();
    for (const snap of this.#remotes.values()) {
      for (const f of snap.families) {
        const list = remoteFamilies.get(f.name) ?? [];
        list.push(f);
        remoteFamilies.set(f.name, list);
      }
    }
    for (const metric of this.#metrics.values()) {
      const local: Family = {
        name: metric.name,
        help: metric.help,
        type: metric.type,
        labelNames: metric.labelNames,
        aggregate: metric.aggregate,
        series: seriesOf(metric),
      };
      if (metric instanceof HistogramMetric) {
        local.scale = metric.scale;
        local.buckets = metric.buckets;
      }
      const remote = remoteFamilies.get(metric.name);
      remoteFamilies.delete(metric.name);
      yield remote === undefined ? local : combine(local, remote, this.#merged);
    }
    for (const [name, list] of remoteFamilies) {
      const first = list[0]!;
      const base: Family = {
        name,
        help: first.help,
        type: first.type,
        labelNames: first.labelNames,
        series: [],
      };
      if (first.aggregate !== undefined) base.aggregate = first.aggregate;
      if (first.scale !== undefined) base.scale = first.scale;
      if (first.buckets !== undefined) base.buckets = first.buckets;
      yield combine(base, list, this.#merged);
    }
  }

  #getOrCreate(options: MetricOptions, type: MetricType, make: () => AnyMetric): AnyMetric {
    const existing = this.#metrics.get(options?.name);
    if (existing === undefined) return this.register(make());
    const labels = options.labelNames ?? [];
    if (
      existing.type !== type ||
      existing.labelNames.length !== labels.length ||
      existing.labelNames.some((l, i) => l !== labels[i])
    ) {
      throw new DuplicateMetricError(
        existing.name,
        `metric ${existing.name} exists as a ${existing.type} with labels [${existing.labelNames.join(', ')}]`,
      );
    }
    return existing;
  }
}

function* seriesOf(
  metric: AnyMetric,
): Generator<{ labelValues: readonly string[]; value: number | Histogram }> {
  for (const s of metric.series()) {
    const v = s.value;
    yield { labelValues: s.labelValues, value: v instanceof Histogram ? v : v.value };
  }
}

/**
 * Adds remote series into a local family (same name), keyed by label values. Merged histograms
 * come from `cache` (reset, then filled), so a scrape allocates none once warm.
 */
function combine(
  local: Family,
  remotes: RegistrySnapshot['families'],
  cache: Map<string, Histogram>,
): Family {
  const merged = new Map<string, { labelValues: readonly string[]; value: number | Histogram }>();
  const max = local.aggregate === 'max';
  const add = (
    labelValues: readonly string[],
    value: number | Histogram | HistogramSnapshot,
  ): void => {
    const key = labelValues.join('\u0000');
    const found = merged.get(key);
    if (typeof value === 'number') {
      if (found === undefined) merged.set(key, { labelValues, value });
      else if (typeof found.value === 'number') {
        found.value = max ? Math.max(found.value, value) : found.value + value;
      }
      return;
    }
    let h = found?.value;
    if (h === undefined || typeof h === 'number') {
      const cacheKey = `${local.name}\u0001${key}`;
      h = cache.get(cacheKey);
      if (
        h === undefined ||
        h.lowest !== value.lowest ||
        h.highest !== value.highest ||
        h.precision !== value.precision
      ) {
        h = new Histogram({
          lowest: value.lowest,
          highest: value.highest,
          precision: value.precision,
        });
        cache.set(cacheKey, h);
      } else h.reset();
      h.merge(value);
      merged.set(key, { labelValues, value: h });
    } else h.merge(value);
  };
  for (const s of local.series) add(s.labelValues, s.value);
  for (const family of remotes) {
    if (family.type !== local.type || family.labelNames.length !== local.labelNames.length)
      continue;
    for (const s of family.series) add(s.labelValues, s.value);
  }
  return { ...local, series: merged.values() };
}
