/**
 * Per-task overhead of hotpath/concurrency's WorkerPool (bounded-queue check, timing wrapper in
 * the thread, histograms) against calling piscina 5.3.2 directly, on a trivial task so the
 * pool is all there is to measure. Same thread count, same batches of tasks in flight,
 * interleaved over rounds; reports main-thread microseconds per task (wall) and the ratio.
 *
 *   npm run bench -- concurrency --filter pool
 */
import { fileURLToPath } from 'node:url';
import { WorkerPool } from 'hotpath/concurrency';
import { Piscina } from 'piscina';
import { interleave, printRatios, writeResult } from '../lib/report.js';

const TASKS = 20_000;
const BATCH = 128;
const ROUNDS = Number(process.env.ROUNDS ?? 7);
const task = new URL('./fixtures/echo-task.ts', import.meta.url);

const ours = new WorkerPool<number, number>({
  filename: task,
  minThreads: 1,
  maxThreads: 1,
  maxQueue: BATCH,
});
const theirs = new Piscina<number, number>({
  filename: fileURLToPath(task),
  minThreads: 1,
  maxThreads: 1,
});

async function tasksPerSecond(run: (n: number) => Promise<number>): Promise<number> {
  const start = performance.now();
  for (let i = 0; i < TASKS; i += BATCH) {
    const batch: Promise<number>[] = [];
    for (let j = 0; j < BATCH; j++) batch.push(run(i + j));
    await Promise.all(batch);
  }
  return TASKS / ((performance.now() - start) / 1000);
}

// Warm both: threads started, task modules loaded.
await Promise.all([ours.run(0), theirs.run(0)]);
const results = await interleave(
  {
    'hotpath WorkerPool': () => tasksPerSecond((n) => ours.run(n)),
    'piscina direct': () => tasksPerSecond((n) => theirs.run(n)),
  },
  ROUNDS,
);
await Promise.all([ours.close(), theirs.close()]);

const medians = Object.fromEntries(Object.entries(results).map(([k, v]) => [k, v.median]));
printRatios(
  `worker pool, ${TASKS} trivial tasks in batches of ${BATCH}, 1 thread, ${ROUNDS} rounds`,
  medians,
  'tasks/s',
  'hotpath WorkerPool',
);
const overhead = medians['piscina direct']! / medians['hotpath WorkerPool']!;
console.log(`  time per task, hotpath / piscina: ${overhead.toFixed(3)}x (goal <= 1.1x)`);
writeResult('concurrency-pool', {
  tasks: TASKS,
  batch: BATCH,
  results,
  timePerTaskRatio: overhead,
});
