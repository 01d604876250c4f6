/**
 * L1 hit, awaited: hotpath getOrSet vs an awaited raw lru-cache get vs bentocache getOrSet
 * (memory driver) vs cache-manager wrap, on 1,000 warm keys, interleaved over rounds.
 *
 *   npm run bench -- cache --filter l1-hit
 */
import { LRUCache } from 'lru-cache';
import { createCache } from 'hotpath/cache';
import { interleave, printRatios, writeResult } from '../lib/report.js';
import { bentoMemory, cacheManager, opsPerSecond } from './rivals.js';

const KEYS = Array.from({ length: 1000 }, (_, i) => `user:${i}`);
const value = (i: number): { id: number; name: string } => ({ id: i, name: `user ${i}` });
const ROUNDS = Number(process.env.ROUNDS ?? 7);
const ROUND_MS = Number(process.env.ROUND_MS ?? 400);

const ours = createCache({ namespace: 'bench-l1', l1: { max: 10_000 }, ttlMs: 3_600_000 });
const options = { ttlMs: 3_600_000 };
const lru = new LRUCache<string, { id: number; name: string }>({ max: 10_000 });
const bento = bentoMemory();
const manager = cacheManager();

for (let i = 0; i < KEYS.length; i++) {
  const key = KEYS[i]!;
  await ours.getOrSet(key, () => value(i), options);
  lru.set(key, value(i));
  await bento.getOrSet({ key, factory: () => value(i), ttl: '1h' });
  await manager.wrap(key, () => value(i), 3_600_000);
}

const never = (): never => {
  throw new Error('factory called on a warm key');
};
const results = await interleave(
  {
    'hotpath getOrSet': () =>
      opsPerSecond((i) => ours.getOrSet(KEYS[i % 1000]!, never, options), ROUND_MS),
    // The loop does `await op(i)`: here that is exactly `await lru.get(key)`.
    'lru-cache get (awaited)': () => opsPerSecond((i) => lru.get(KEYS[i % 1000]!), ROUND_MS),
    'bentocache getOrSet': () =>
      opsPerSecond(
        (i) => bento.getOrSet({ key: KEYS[i % 1000]!, factory: never, ttl: '1h' }),
        ROUND_MS / 4,
      ),
    'cache-manager wrap': () =>
      opsPerSecond((i) => manager.wrap(KEYS[i % 1000]!, never, 3_600_000), ROUND_MS / 2),
  },
  ROUNDS,
);
const medians = Object.fromEntries(Object.entries(results).map(([k, v]) => [k, v.median]));
printRatios(`L1 hit, awaited (${ROUNDS} rounds, median)`, medians, 'ops/s', 'hotpath getOrSet');
const ratioLru = medians['hotpath getOrSet']! / medians['lru-cache get (awaited)']!;
const ratioBento = medians['hotpath getOrSet']! / medians['bentocache getOrSet']!;
console.log(
  `  goal >= 0.80x lru-cache: ${ratioLru.toFixed(2)}x ${ratioLru >= 0.8 ? 'met' : 'NOT met'}`,
);
console.log(
  `  goal >= 20x bentocache:  ${ratioBento.toFixed(1)}x ${ratioBento >= 20 ? 'met' : 'NOT met'}`,
);
writeResult('cache-l1-hit', { results, ratios: { lruCache: ratioLru, bentocache: ratioBento } });
await ours.close();
await bento.disconnectAll();
await manager.disconnect();
