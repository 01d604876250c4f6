import { InvalidOptionError } from '../errors/index.js';
import { checkNumber } from '../internal/validate-options.js';
import { Histogram, type HistogramSnapshot } from './histogram.js';
import { MetricsRegistry, type RegistrySnapshot } from './registry.js';
import { METRICS_MESSAGE, type MessageSource, type MetricsMessage } from './share.js';

/** Options of {@link ClusterMetrics}. */
export interface ClusterMetricsOptions {
  /**
   * The registry that exposes the merge (give it the service's `labels`, such as `instance`).
   * Its own metrics are exposed too. @defaultValue a new {@link MetricsRegistry}
   */
  registry?: MetricsRegistry;
  /**
   * A worker whose latest snapshot is older than this counts as stale in
   * `hotpath_cluster_workers{state="stale"}`; its last snapshot is still merged.
   * @defaultValue 5000
   */
  staleMs?: number;
  /** Clock in milliseconds. @defaultValue `Date` */
  clock?: { now(): number };
}

/** What the primary knows of one worker. */
export interface ClusterSource {
  /** The name the worker shares under (`shareWithParent`'s `source`). */
  source: string;
  /** Milliseconds since its latest snapshot arrived. */
  ageMs: number;
  /** Its latest snapshot. */
  snapshot: RegistrySnapshot;
}

type SeriesValue = number | Histogram;
interface RetiredFamily {
  meta: Omit<RegistrySnapshot['families'][number], 'series'>;
  series: Map<string, { labelValues: string[]; value: SeriesValue }>;
}

const RETIRED = '\u0000retired';

/**
 * The primary's side of a cluster's metrics: every worker pushes its registry's snapshot
 * (`shareWithParent`, every second by default) and {@link ClusterMetrics.registry} exposes
 * their exact merge: counters summed, histograms merged bucket by bucket, gauges summed (or the
 * maximum, for gauges made with `aggregate: 'max'`).
 *
 * A scrape reads what the primary already holds: it never asks a worker, so a slow, frozen
 * (SIGSTOP) or dead worker cannot hold it up, and a worker that has sent nothing yet is simply
 * not in it. The price is staleness: a worker's part is as old as its latest push. When a
 * worker exits, its counters and histograms stay in the totals (so merged counters never go
 * down, which Prometheus would read as a reset) and its gauges leave.
 * @example
 * ```ts
 * // primary
 * const metrics = new ClusterMetrics({ registry: new MetricsRegistry({ labels: { instance } }) });
 * cluster.on('fork', (worker) => metrics.watch(worker));
 * http.createServer(async (req, res) => res.end(await metrics.registry.metrics()));
 * // worker
 * shareWithParent(registry, { source: `worker-${cluster.worker.id}` });
 * ```
 */
export class ClusterMetrics {
  /** Exposes every worker's metrics merged, and its own. */
  readonly registry: MetricsRegistry;
  readonly #staleMs: number;
  readonly #clock: { now(): number };
  readonly #latest = new Map<string, { snapshot: RegistrySnapshot; at: number }>();
  readonly #retired = new Map<string, RetiredFamily>();
  readonly #unwatch = new Set<() => void>();

  /** @throws {@link InvalidOptionError} `HP_ERR_INVALID_OPTION` on a bad option. */
  constructor(options: ClusterMetricsOptions = {}) {
    if (options.registry !== undefined && !(options.registry instanceof MetricsRegistry)) {
      throw new InvalidOptionError('registry', 'expected a MetricsRegistry');
    }
    this.registry = options.registry ?? new MetricsRegistry();
    this.#staleMs = checkNumber('staleMs', options.staleMs ?? 5000, { min: 1 });
    this.#clock = options.clock ?? Date;
    const workers = this.registry.gauge({
      name: 'hotpath_cluster_workers',
      help: 'Workers whose metrics the primary merges, by the age of their latest snapshot',
      labelNames: ['state'],
      collect: () => {
        let stale = 0;
        const now = this.#clock.now();
        for (const { at } of this.#latest.values()) if (now - at > this.#staleMs) stale++;
        workers.labels('fresh').set(this.#latest.size - stale);
        workers.labels('stale').set(stale);
      },
    });
    const age = this.registry.gauge({
      name: 'hotpath_cluster_snapshot_age_max_seconds',
      help: 'Age of the oldest worker snapshot in the merge',
      collect: () => {
        const now = this.#clock.now();
        let oldest = 0;
        for (const { at } of this.#latest.values()) oldest = Math.max(oldest, now - at);
        age.set(oldest / 1000);
      },
    });
  }

  /**
   * Merges the snapshots `worker` sends (a cluster `Worker`, a child process or a worker
   * thread) until it exits, then keeps its counters and histograms in the totals. Returns the
   * function that stops listening.
   */
  watch(worker: MessageSource): () => void {
    const sources = new Set<string>();
    const onMessage = (message: unknown): void => {
      const m = message as Partial<MetricsMessage> | null;
      if (m === null || typeof m !== 'object' || m.type !== METRICS_MESSAGE) return;
      if (typeof m.source !== 'string' || m.source === RETIRED) return;
      if (m.snapshot === null || m.snapshot === undefined) {
        sources.delete(m.source);
        this.#retire(m.source);
      } else if (isSnapshot(m.snapshot)) {
        sources.add(m.source);
        this.#latest.set(m.source, { snapshot: m.snapshot, at: this.#clock.now() });
        this.registry.setRemote(m.source, m.snapshot);
      }
    };
    const stop = (): void => {
      worker.off('message', onMessage);
      this.#unwatch.delete(stop);
    };
    worker.on('message', onMessage);
    worker.once('exit', () => {
      stop();
      for (const source of sources) this.#retire(source);
    });
    this.#unwatch.add(stop);
    return stop;
  }

  /** The workers currently merged, with their latest snapshots. */
  sources(): ClusterSource[] {
    const now = this.#clock.now();
    return [...this.#latest].map(([source, { snapshot, at }]) => ({
      source,
      ageMs: now - at,
      snapshot,
    }));
  }

  /** Stops listening to every worker (their parts stay as they are). */
  async close(): Promise<void> {
    for (const stop of [...this.#unwatch]) stop();
  }

  /** Moves a source's counters and histograms into the retired totals; drops its gauges. */
  #retire(source: string): void {
    const latest = this.#latest.get(source);
    this.#latest.delete(source);
    this.registry.setRemote(source, undefined);
    if (latest === undefined) return;
    for (const family of latest.snapshot.families) {
      if (family.type === 'gauge') continue;
      let retired = this.#retired.get(family.name);
      if (retired === undefined) {
        const { series: _series, ...meta } = family;
        retired = { meta, series: new Map() };
        this.#retired.set(family.name, retired);
      } else if (
        retired.meta.type !== family.type ||
        retired.meta.labelNames.join('\u0000') !== family.labelNames.join('\u0000')
      ) {
        continue;
      }
      for (const s of family.series) {
        const key = s.labelValues.join('\u0000');
        const found = retired.series.get(key);
        if (typeof s.value === 'number') {
          if (found === undefined)
            retired.series.set(key, { labelValues: s.labelValues, value: s.value });
          else if (typeof found.value === 'number') found.value += s.value;
        } else if (found === undefined) {
          retired.series.set(key, {
            labelValues: s.labelValues,
            value: Histogram.fromSnapshot(s.value),
          });
        } else if (found.value instanceof Histogram) found.value.merge(s.value);
      }
    }
    this.registry.setRemote(RETIRED, this.#retiredSnapshot());
  }

  #retiredSnapshot(): RegistrySnapshot {
    return {
      v: 1,
      families: [...this.#retired.values()].map(({ meta, series }) => ({
        ...meta,
        series: [...series.values()].map(({ labelValues, value }) => ({
          labelValues,
          value: typeof value === 'number' ? value : (value.snapshot() as HistogramSnapshot),
        })),
      })),
    };
  }
}

function isSnapshot(value: unknown): value is RegistrySnapshot {
  const s = value as RegistrySnapshot;
  return typeof s === 'object' && s !== null && s.v === 1 && Array.isArray(s.families);
}
