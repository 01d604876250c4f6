/**
 * Shared setup of the cache benches: the Redis server (scripts/services.sh's, started if
 * needed), ioredis clients, and the rival caches built the way their docs show.
 */
import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import { BentoCache, bentostore } from 'bentocache';
import { memoryDriver } from 'bentocache/drivers/memory';
import { redisDriver } from 'bentocache/drivers/redis';
import { createCache as createCacheManager } from 'cache-manager';
import { Redis } from 'ioredis';

export const REDIS_URL =
  process.env.TEST_REDIS_URL ?? `redis://127.0.0.1:${process.env.HOTPATH_REDIS_PORT ?? 63799}`;

/** Makes sure the shared bench/test Redis runs, and returns a client factory. */
export function redisClients(): { client: () => Redis; closeAll: () => void } {
  execFileSync(
    'bash',
    [resolve(import.meta.dirname, '../../scripts/services.sh'), 'start', 'redis'],
    {
      stdio: 'ignore',
    },
  );
  const all: Redis[] = [];
  return {
    client: () => {
      const c = new Redis(REDIS_URL);
      all.push(c);
      return c;
    },
    closeAll: () => {
      for (const c of all) c.disconnect();
    },
  };
}

/** bentocache with its memory driver only. */
export function bentoMemory(): BentoCache<{ cache: ReturnType<typeof bentostore> }> {
  return new BentoCache({
    default: 'cache',
    stores: { cache: bentostore().useL1Layer(memoryDriver({ maxItems: 100_000 })) },
  });
}

/** bentocache with memory L1 and a Redis L2 (no bus: reads only). */
export function bentoTwoTier(
  connection: Redis,
  maxItems: number,
): BentoCache<{ cache: ReturnType<typeof bentostore> }> {
  return new BentoCache({
    default: 'cache',
    stores: {
      cache: bentostore()
        .useL1Layer(memoryDriver({ maxItems }))
        .useL2Layer(redisDriver({ connection })),
    },
  });
}

/** cache-manager 7 with its default in-memory Keyv store. */
export function cacheManager(): ReturnType<typeof createCacheManager> {
  return createCacheManager();
}

/** Runs `op` in a loop for about `ms` milliseconds and returns ops/s. */
export async function opsPerSecond(op: (i: number) => unknown, ms: number): Promise<number> {
  let done = 0;
  const start = performance.now();
  let now = start;
  while (now - start < ms) {
    for (let i = 0; i < 1000; i++) await op(done + i);
    done += 1000;
    now = performance.now();
  }
  return done / ((now - start) / 1000);
}

/** Runs `op` from `inFlight` concurrent loops for about `ms` milliseconds and returns ops/s. */
export async function concurrentOpsPerSecond(
  op: (i: number) => Promise<unknown>,
  inFlight: number,
  ms: number,
): Promise<number> {
  let done = 0;
  const start = performance.now();
  const end = start + ms;
  const worker = async (w: number): Promise<void> => {
    let i = w;
    while (performance.now() < end) {
      await op(i);
      i += inFlight;
      done++;
    }
  };
  await Promise.all(Array.from({ length: inFlight }, (_, w) => worker(w)));
  return done / ((performance.now() - start) / 1000);
}
