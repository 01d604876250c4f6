import { InvalidOptionError } from '../errors/index.js';
import type { MetricsRegistry } from '../metrics/index.js';
import type { RateLimiter } from './rate-limiter.js';

/** Options of {@link registerRateLimitMetrics}. */
export interface RateLimitMetricsOptions {
  /** Value of the `limiter` label, telling limiters apart in one registry. */
  name: string;
}

interface Source {
  name: string;
  limiter: RateLimiter;
}

const sourcesByRegistry = new WeakMap<MetricsRegistry, Set<Source>>();

/**
 * Exposes a limiter's {@link RateLimiterStats} through a hotpath/metrics registry, read at
 * each collection (nothing is added to a decision):
 *
 * - `hotpath_rate_limit_decisions_total{limiter,result}` counter (result allowed|limited)
 * - `hotpath_rate_limit_redis_errors_total{limiter}` counter: failed or timed-out script calls
 * - `hotpath_rate_limit_fallbacks_total{limiter}` counter: decisions taken by the fail policy
 *
 * Several limiters may share one registry under different names. Returns a function that
 * stops exposing this limiter.
 * @throws {@link InvalidOptionError} `HP_ERR_INVALID_OPTION` when `name` is empty or already used
 * @example
 * const stop = registerRateLimitMetrics(limiter, registry, { name: 'api' });
 */
export function registerRateLimitMetrics(
  limiter: RateLimiter,
  registry: MetricsRegistry,
  options: RateLimitMetricsOptions,
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
  const source: Source = { name: options.name, limiter };
  sources.add(source);
  const all = sources;

  const decisions = registry.counter({
    name: 'hotpath_rate_limit_decisions_total',
    help: 'Rate-limit decisions by result.',
    labelNames: ['limiter', 'result'],
    collect: () => {
      for (const s of all) {
        const stats = s.limiter.stats();
        decisions.labels(s.name, 'allowed').value = stats.allowed;
        decisions.labels(s.name, 'limited').value = stats.limited;
      }
    },
  });
  const errors = registry.counter({
    name: 'hotpath_rate_limit_redis_errors_total',
    help: 'Failed or timed-out rate-limit script calls to Redis.',
    labelNames: ['limiter'],
    collect: () => {
      for (const s of all) errors.labels(s.name).value = s.limiter.stats().redisErrors;
    },
  });
  const fallbacks = registry.counter({
    name: 'hotpath_rate_limit_fallbacks_total',
    help: 'Rate-limit decisions taken by the fail policy because Redis could not decide.',
    labelNames: ['limiter'],
    collect: () => {
      for (const s of all) fallbacks.labels(s.name).value = s.limiter.stats().fallbacks;
    },
  });
  return () => {
    all.delete(source);
  };
}
