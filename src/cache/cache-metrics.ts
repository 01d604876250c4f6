import type { ChartPanel, MetricsRegistry } from '../metrics/index.js';
import { InvalidOptionError } from '../errors/index.js';
import type { Cache } from './cache.js';
import type { CacheStats } from './stats.js';

/** Options of {@link registerCacheMetrics}. */
export interface CacheMetricsOptions {
  /** Value of the `cache` label, telling caches apart in one registry. */
  name: string;
}

interface Source {
  name: string;
  cache: Cache;
}

const sourcesByRegistry = new WeakMap<MetricsRegistry, Set<Source>>();

type Setter = (
  name: string,
  stats: CacheStats,
  set: (labels: string[], value: number) => void,
) => void;

/**
 * Exposes a cache's {@link CacheStats} through a hotpath/metrics registry, read at each
 * collection (nothing is added to the cache's hot path):
 *
 * - `hotpath_cache_requests_total{cache,tier,result}` counter (tier l1|l2, result hit|miss)
 * - `hotpath_cache_stale_served_total{cache,tier}` counter (tier l1|l2|all)
 * - `hotpath_cache_factory_calls_total{cache,outcome}` counter (outcome ok|error|timeout)
 * - `hotpath_cache_l2_errors_total{cache}` counter
 * - `hotpath_cache_single_flight_total{cache,kind}` counter (kind coalesced|remote_wait)
 * - `hotpath_cache_entries{cache}` and `hotpath_cache_bytes{cache}` gauges (L1)
 * - `hotpath_cache_l2_available{cache}` gauge (1 or 0)
 * - `hotpath_cache_latency_seconds{cache,op,quantile}` gauge (op factory|l2_read, quantile 0.5|0.99)
 *
 * Several caches may share one registry under different names. Returns a function that
 * stops exposing this cache.
 *
 * @throws {@link InvalidOptionError} `HP_ERR_INVALID_OPTION` when `name` is empty or already used
 */
export function registerCacheMetrics(
  cache: Cache,
  registry: MetricsRegistry,
  options: CacheMetricsOptions,
): () => void {
  if (typeof options?.name !== 'string' || options.name.length === 0)
    throw new InvalidOptionError('name', 'expected a non-empty string');
  let sources = sourcesByRegistry.get(registry);
  if (sources === undefined) {
    sources = new Set();
    sourcesByRegistry.set(registry, sources);
  }
  for (const s of sources)
    if (s.name === options.name)
      throw new InvalidOptionError('name', `"${options.name}" is already registered`);
  const source: Source = { name: options.name, cache };
  sources.add(source);
  const all = sources;

  const define = (
    kind: 'counter' | 'gauge',
    metric: string,
    help: string,
    labelNames: string[],
    fill: Setter,
  ): void => {
    const m =
      kind === 'counter'
        ? registry.counter({ name: metric, help, labelNames, collect: () => collect() })
        : registry.gauge({ name: metric, help, labelNames, collect: () => collect() });
    const collect = (): void => {
      for (const s of all) {
        const stats = s.cache.stats();
        fill(s.name, stats, (labels, value) => {
          m.labels(...labels).value = value;
        });
      }
    };
  };

  define(
    'counter',
    'hotpath_cache_requests_total',
    'Cache lookups by tier and result.',
    ['cache', 'tier', 'result'],
    (n, s, set) => {
      set([n, 'l1', 'hit'], s.l1.hits);
      set([n, 'l1', 'miss'], s.l1.misses);
      set([n, 'l2', 'hit'], s.l2.hits);
      set([n, 'l2', 'miss'], s.l2.misses);
    },
  );
  define(
    'counter',
    'hotpath_cache_stale_served_total',
    'Stale values served.',
    ['cache', 'tier'],
    (n, s, set) => {
      set([n, 'l1'], s.l1.staleServed);
      set([n, 'l2'], s.l2.staleServed);
      set([n, 'all'], s.staleServed);
    },
  );
  define(
    'counter',
    'hotpath_cache_factory_calls_total',
    'Factory calls by outcome.',
    ['cache', 'outcome'],
    (n, s, set) => {
      set([n, 'ok'], s.factory.calls - s.factory.errors - s.factory.timeouts);
      set([n, 'error'], s.factory.errors);
      set([n, 'timeout'], s.factory.timeouts);
    },
  );
  define(
    'counter',
    'hotpath_cache_l2_errors_total',
    'Failed or timed-out L2 operations.',
    ['cache'],
    (n, s, set) => {
      set([n], s.l2.errors);
    },
  );
  define(
    'counter',
    'hotpath_cache_single_flight_total',
    'Loads that joined another load.',
    ['cache', 'kind'],
    (n, s, set) => {
      set([n, 'coalesced'], s.singleFlight.coalesced);
      set([n, 'remote_wait'], s.singleFlight.remoteWaits);
    },
  );
  define('gauge', 'hotpath_cache_entries', 'Entries in L1.', ['cache'], (n, s, set) =>
    set([n], s.l1.entries),
  );
  define(
    'gauge',
    'hotpath_cache_bytes',
    'Bytes counted against l1.maxBytes.',
    ['cache'],
    (n, s, set) => set([n], s.l1.bytes),
  );
  define(
    'gauge',
    'hotpath_cache_l2_available',
    '1 when L2 is in use, 0 while it is down.',
    ['cache'],
    (n, s, set) => set([n], s.l2.available ? 1 : 0),
  );
  define(
    'gauge',
    'hotpath_cache_latency_seconds',
    'Latency quantiles since start.',
    ['cache', 'op', 'quantile'],
    (n, s, set) => {
      set([n, 'factory', '0.5'], s.factory.latency.p50Ms / 1000);
      set([n, 'factory', '0.99'], s.factory.latency.p99Ms / 1000);
      set([n, 'l2_read', '0.5'], s.l2.readLatency.p50Ms / 1000);
      set([n, 'l2_read', '0.99'], s.l2.readLatency.p99Ms / 1000);
    },
  );
  return () => {
    all.delete(source);
  };
}

/** Options of {@link cachePanels}. */
export interface CachePanelsOptions {
  /** Shown in the panel titles and ids. */
  name: string;
  /** Milliseconds clock for the per-second rates. @defaultValue performance.now */
  clock?: { now(): number };
}

/**
 * Dashboard panels for a cache (add them with `dashboard.addPanel`): the hit ratio per tier
 * and the factory calls and stale answers per second, both over the last sampling interval.
 */
export function cachePanels(cache: Cache, options: CachePanelsOptions): ChartPanel[] {
  const name = options.name;
  const clock = options.clock ?? { now: () => performance.now() };
  let last = cache.stats();
  let lastAt = clock.now();
  let current = { l1: 0, l2: 0, factory: 0, stale: 0 };
  const sample = (): typeof current => {
    const now = clock.now();
    if (now - lastAt < 100) return current;
    const s = cache.stats();
    const seconds = (now - lastAt) / 1000;
    const ratio = (hits: number, misses: number): number =>
      hits + misses === 0 ? 0 : (100 * hits) / (hits + misses);
    current = {
      l1: ratio(s.l1.hits - last.l1.hits, s.l1.misses - last.l1.misses),
      l2: ratio(s.l2.hits - last.l2.hits, s.l2.misses - last.l2.misses),
      factory: (s.factory.calls - last.factory.calls) / seconds,
      stale: (s.staleServed - last.staleServed) / seconds,
    };
    last = s;
    lastAt = now;
    return current;
  };
  return [
    {
      id: `cache-${name}-hits`,
      title: `Cache ${name}: hit ratio`,
      unit: '%',
      series: [{ label: 'L1' }, { label: 'L2' }],
      sample: () => {
        const c = sample();
        return [c.l1, c.l2];
      },
    },
    {
      id: `cache-${name}-loads`,
      title: `Cache ${name}: loads`,
      unit: '/s',
      series: [{ label: 'factory calls' }, { label: 'stale served' }],
      sample: () => {
        const c = sample();
        return [c.factory, c.stale];
      },
    },
  ];
}
