/**
 * Bounded-concurrency map over 1M trivial async items: hotpath/concurrency `map` vs p-map 7.1.1
 * and p-limit 7.3.3 (each used its documented way), in the same process, interleaved over
 * rounds. Reports items per CPU-second (user + system time, so a busier machine does not make
 * anyone look slower) and the peak heap seen during the run (sampled every 10k items).
 *
 *   npm run bench -- concurrency --filter map
 */
import { map } from 'hotpath/concurrency';
import pLimit from 'p-limit';
import pMap from 'p-map';
import { interleave, median, printRatios, writeResult } from '../lib/report.js';

const ITEMS = 1_000_000;
const CONCURRENCY = 16;
const ROUNDS = Number(process.env.ROUNDS ?? 5);
const items = Array.from({ length: ITEMS }, (_, i) => i);

let peakHeap = 0;
let seen = 0;
async function work(n: number): Promise<number> {
  if (++seen % 10_000 === 0) peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed);
  return n + 1;
}

const peaks: Record<string, number[]> = {};

function measured(name: string, run: () => Promise<number[]>): () => Promise<number> {
  peaks[name] = [];
  return async () => {
    globalThis.gc?.();
    peakHeap = process.memoryUsage().heapUsed;
    const before = process.cpuUsage();
    const out = await run();
    const cpu = process.cpuUsage(before);
    if (out.length !== ITEMS || out[ITEMS - 1] !== ITEMS) throw new Error(`${name}: wrong result`);
    peaks[name]!.push(peakHeap);
    return ITEMS / ((cpu.user + cpu.system) / 1e6);
  };
}

const limit = pLimit(CONCURRENCY);
const results = await interleave(
  {
    'hotpath map': measured('hotpath map', () => map(items, work, { concurrency: CONCURRENCY })),
    'p-map': measured('p-map', () => pMap(items, work, { concurrency: CONCURRENCY })),
    'p-limit': measured('p-limit', () => Promise.all(items.map((n) => limit(() => work(n))))),
  },
  ROUNDS,
);

const medians = Object.fromEntries(Object.entries(results).map(([k, v]) => [k, v.median]));
printRatios(
  `map, ${ITEMS} trivial async items, concurrency ${CONCURRENCY}, ${ROUNDS} rounds`,
  medians,
  'items/CPU-s',
  'hotpath map',
);
const heap = Object.fromEntries(
  Object.entries(peaks).map(([k, v]) => [k, Math.round(median(v) / 2 ** 20)]),
);
console.log('  peak heap (MiB, median):', heap);
writeResult('concurrency-map', {
  items: ITEMS,
  concurrency: CONCURRENCY,
  results,
  peakHeapMiB: heap,
});
