/**
 * @module hotpath/cache
 * A multi-level cache: L1 in process (lru-cache, bounded by entry count and bytes, TTL) and
 * an optional L2 on Redis (ioredis) shared by every instance. `getOrSet` is cache-aside with
 * single-flight stampede protection in one process and across instances (a Redis lease and a
 * pub/sub wake-up), TTL jitter, stale-while-revalidate, refresh-ahead, negative caching, soft
 * and hard factory timeouts and tags. Writes are write-through or write-behind; a write or
 * delete drops the key from every instance's L1 over pub/sub, with versioned entries so a lost
 * message leaves an L1 copy stale for at most `l1.ttlMs`. When Redis fails, the cache serves
 * from L1 and the source and recovers by itself.
 *
 * It does not persist anything itself, shard across Redis Cluster slots (MGET and the Lua
 * scripts need one node), or cache across processes without Redis.
 */
export { Cache, createCache } from './cache.js';
export type {
  CacheOptions,
  GetOrSetOptions,
  SetOptions,
  Factory,
  FactoryContext,
} from './options.js';
export type { CacheStats } from './stats.js';
export type { LatencySummary } from './latency.js';
export { jsonSerializer } from './serializer.js';
export type { Serializer } from './serializer.js';
export {
  CacheLoaderError,
  CacheTimeoutError,
  CacheSerializeError,
  CacheFlushError,
} from './errors.js';
export { registerCacheMetrics, cachePanels } from './cache-metrics.js';
export type { CacheMetricsOptions, CachePanelsOptions } from './cache-metrics.js';
