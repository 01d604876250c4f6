/**
 * L1 miss / L2 hit at 100 reads in flight: hotpath getOrSet (L1 of 100 entries over 10,000
 * keys, so every read goes to Redis, batched into MGETs) vs raw ioredis GET at the same
 * concurrency vs bentocache memory+redis, on the same local redis-server, interleaved.
 *
 *   npm run bench -- cache --filter l2-hit
 */
import { createCache } from 'hotpath/cache';
import { interleave, printRatios, writeResult } from '../lib/report.js';
import { bentoTwoTier, concurrentOpsPerSecond, redisClients } from './rivals.js';

const KEY_COUNT = 10_000;
const IN_FLIGHT = Number(process.env.IN_FLIGHT ?? 100);
const ROUNDS = Number(process.env.ROUNDS ?? 5);
const ROUND_MS = Number(process.env.ROUND_MS ?? 1000);
const ns = `bench-l2-${process.pid}`;
const keys = Array.from({ length: KEY_COUNT }, (_, i) => `payment:${i}`);
const payment = (i: number): Record<string, unknown> => ({
  id: i,
  userId: i % 97,
  amount: 1000 + i,
  currency: 'EUR',
  status: 'captured',
  createdAt: '2026-11-24T08:00:00.000Z',
});

const { client, closeAll } = redisClients();
// A long L2 deadline: on a shared, loaded machine a slow reply must not count as an outage.
const ours = createCache({
  namespace: ns,
  l1: { max: 100 },
  l2: client(),
  ttlMs: 3_600_000,
  l2TimeoutMs: 5000,
});
await ours.ready();
const raw = client();
const bento = bentoTwoTier(client(), 100);
const options = { ttlMs: 3_600_000 };

for (let start = 0; start < KEY_COUNT; start += 500) {
  const chunk = keys.slice(start, start + 500);
  await Promise.all(chunk.map((k, j) => ours.set(k, payment(start + j), options)));
  await raw.mset(
    ...chunk.flatMap((k, j) => [`${ns}:raw:${k}`, JSON.stringify(payment(start + j))]),
  );
  await Promise.all(
    chunk.map((k, j) => bento.set({ key: `${ns}:${k}`, value: payment(start + j), ttl: '1h' })),
  );
}
await ours.clear().catch(() => undefined);
// clear() emptied L2 too: write the keys again, then drop L1 by reading other keys.
for (let start = 0; start < KEY_COUNT; start += 500) {
  const chunk = keys.slice(start, start + 500);
  await Promise.all(chunk.map((k, j) => ours.set(k, payment(start + j), options)));
}

const never = (): never => {
  throw new Error('factory called: the key should be in L2');
};
const results = await interleave(
  {
    'hotpath getOrSet': () =>
      concurrentOpsPerSecond(
        (i) => ours.getOrSet(keys[i % KEY_COUNT]!, never, options),
        IN_FLIGHT,
        ROUND_MS,
      ),
    'ioredis GET (raw)': () =>
      concurrentOpsPerSecond(
        async (i) => JSON.parse((await raw.get(`${ns}:raw:${keys[i % KEY_COUNT]!}`))!) as unknown,
        IN_FLIGHT,
        ROUND_MS,
      ),
    'bentocache getOrSet': () =>
      concurrentOpsPerSecond(
        (i) => bento.getOrSet({ key: `${ns}:${keys[i % KEY_COUNT]!}`, factory: never, ttl: '1h' }),
        IN_FLIGHT,
        ROUND_MS,
      ),
  },
  ROUNDS,
);
const stats = ours.stats();
const medians = Object.fromEntries(Object.entries(results).map(([k, v]) => [k, v.median]));
printRatios(
  `L1 miss / L2 hit, ${IN_FLIGHT} in flight (${ROUNDS} rounds, median)`,
  medians,
  'ops/s',
  'hotpath getOrSet',
);
const ratioRaw = medians['hotpath getOrSet']! / medians['ioredis GET (raw)']!;
const ratioBento = medians['hotpath getOrSet']! / medians['bentocache getOrSet']!;
console.log(
  `  hotpath: L1 hits ${stats.l1.hits}, L2 hits ${stats.l2.hits}, L2 round trips ${stats.l2.readLatency.count}, factory calls ${stats.factory.calls}`,
);
console.log(
  `  goal >= 0.8x raw ioredis: ${ratioRaw.toFixed(2)}x ${ratioRaw >= 0.8 ? 'met' : 'NOT met'}`,
);
console.log(
  `  goal >= 8x bentocache:    ${ratioBento.toFixed(2)}x ${ratioBento >= 8 ? 'met' : 'NOT met'}`,
);
writeResult('cache-l2-hit', {
  inFlight: IN_FLIGHT,
  results,
  ratios: { ioredis: ratioRaw, bentocache: ratioBento },
  stats,
});

await ours.clear();
const leftovers = await raw.keys(`${ns}:*`);
if (leftovers.length > 0) await raw.unlink(...leftovers);
await ours.close();
await bento.clearAll();
await bento.disconnectAll();
closeAll();
