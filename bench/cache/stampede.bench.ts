/**
 * Stampede: 1,000 concurrent reads of a cold key, the factory taking 20 ms. Counts factory
 * calls per library (median over rounds, a new key each round), in one process and, for the
 * caches with a Redis tier, over two instances (500 reads each) sharing one Redis.
 *
 *   npm run bench -- cache --filter stampede
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { LRUCache } from 'lru-cache';
import { createCache } from 'hotpath/cache';
import { environment, median, writeResult } from '../lib/report.js';
import { bentoMemory, bentoTwoTier, cacheManager, redisClients } from './rivals.js';

const READS = 1000;
const ROUNDS = Number(process.env.ROUNDS ?? 5);
const ns = `bench-stampede-${process.pid}`;
const { client, closeAll } = redisClients();

let calls = 0;
const factory = async (): Promise<{ ok: true }> => {
  calls++;
  await sleep(20);
  return { ok: true };
};

const hotpathLocal = createCache({ namespace: `${ns}-local` });
const hotpathA = createCache({ namespace: ns, l2: client(), l2TimeoutMs: 5000 });
const hotpathB = createCache({ namespace: ns, l2: client(), l2TimeoutMs: 5000 });
await Promise.all([hotpathA.ready(), hotpathB.ready()]);
const bento = bentoMemory();
const bentoA = bentoTwoTier(client(), 10_000);
const bentoB = bentoTwoTier(client(), 10_000);
const manager = cacheManager();
const lru = new LRUCache<string, { ok: true }>({ max: 10_000 });
const lruFetch = new LRUCache<string, { ok: true }>({ max: 10_000, fetchMethod: factory });

const candidates: Record<string, (key: string, i: number) => Promise<unknown>> = {
  'hotpath getOrSet (1 instance)': (key) => hotpathLocal.getOrSet(key, factory),
  'hotpath getOrSet (2 instances + Redis)': (key, i) =>
    (i % 2 === 0 ? hotpathA : hotpathB).getOrSet(key, factory),
  'bentocache getOrSet (memory)': (key) => bento.getOrSet({ key, factory, ttl: '1h' }),
  'bentocache getOrSet (2 instances + Redis)': (key, i) =>
    (i % 2 === 0 ? bentoA : bentoB).getOrSet({ key: `${ns}:${key}`, factory, ttl: '1h' }),
  'cache-manager wrap': (key) => manager.wrap(key, factory, 3_600_000),
  'lru-cache fetch': (key) => lruFetch.fetch(key),
  'lru-cache get-then-set (no protection)': async (key) => {
    const hit = lru.get(key);
    if (hit !== undefined) return hit;
    const value = await factory();
    lru.set(key, value);
    return value;
  },
};

const samples: Record<string, number[]> = Object.fromEntries(
  Object.keys(candidates).map((k) => [k, []]),
);
for (let round = 0; round < ROUNDS; round++) {
  for (const [name, read] of Object.entries(candidates)) {
    const key = `cold:${round}:${name.length}`;
    calls = 0;
    await Promise.all(Array.from({ length: READS }, (_, i) => read(key, i)));
    samples[name]!.push(calls);
  }
}

const env = environment();
console.log(
  `Stampede: factory calls for ${READS} concurrent cold reads, median of ${ROUNDS} rounds  (node ${env.node}, ${env.cpu}, ${env.cores} cores)`,
);
const width = Math.max(...Object.keys(samples).map((k) => k.length));
const medians: Record<string, number> = {};
for (const [name, values] of Object.entries(samples)) {
  medians[name] = median(values);
  console.log(
    `  ${name.padEnd(width)}  ${String(medians[name]).padStart(5)}   (rounds: ${values.join(', ')})`,
  );
}
const ok =
  medians['hotpath getOrSet (1 instance)'] === 1 &&
  medians['hotpath getOrSet (2 instances + Redis)'] === 1;
console.log(`  goal: 1 factory call in one instance and across two: ${ok ? 'met' : 'NOT met'}`);
writeResult('cache-stampede', { reads: READS, samples, medians });

await hotpathA.clear();
await Promise.all([hotpathLocal.close(), hotpathA.close(), hotpathB.close()]);
await Promise.all([bento.disconnectAll(), bentoA.clearAll(), manager.disconnect()]);
await Promise.all([bentoA.disconnectAll(), bentoB.disconnectAll()]);
closeAll();
