/**
 * Per-task overhead of hotpath/concurrency's WorkerPool (bounded-queue check, timing wrapper in
 * the thread, histograms) against calling piscina 5.3.2 directly, on a trivial task so the
 * pool is all there is to measure. Same thread count, same batches of tasks in flight,
 * interleaved over rounds; reports tasks per second (wall) and process CPU per task (every
 * thread: steadier on a shared machine), with the ratios.
 * Then the cost of a task that finds its thread idle (one at a time, a 2 ms pause between, as
 * at low load): process CPU per task (all threads) beyond the pauses' own, same rivals.
 *
 *   npm run bench -- concurrency --filter pool
 */
import { fileURLToPath } from 'node:url';
import { WorkerPool } from 'hotpath/concurrency';
import { Piscina } from 'piscina';
import { interleave, median, printRatios, writeResult } from '../lib/report.js';

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

/** Process CPU µs (every thread) per task of each candidate's rounds, filled by tasksPerSecond. */
const cpuPerTask: Record<string, number[]> = {};

async function tasksPerSecond(name: string, run: (n: number) => Promise<number>): Promise<number> {
  const start = performance.now();
  const cpu = process.cpuUsage();
  for (let i = 0; i < TASKS; i += BATCH) {
    const batch: Promise<number>[] = [];
    for (let j = 0; j < BATCH; j++) batch.push(run(i + j));
    await Promise.all(batch);
  }
  const used = process.cpuUsage(cpu);
  (cpuPerTask[name] ??= []).push((used.user + used.system) / TASKS);
  return TASKS / ((performance.now() - start) / 1000);
}

// Warm both: threads started, task modules loaded.
await Promise.all([ours.run(0), theirs.run(0)]);
const results = await interleave(
  {
    'hotpath WorkerPool': () => tasksPerSecond('hotpath', (n) => ours.run(n)),
    'piscina direct': () => tasksPerSecond('piscina', (n) => theirs.run(n)),
  },
  ROUNDS,
);

const ISOLATED = 300;
const pause = () => new Promise((resolve) => setTimeout(resolve, 2));
/** Process CPU µs (user + system, every thread) per iteration of: a task, then a 2 ms pause. */
async function cpuPerIsolatedTask(run?: (n: number) => Promise<number>): Promise<number> {
  const before = process.cpuUsage();
  for (let i = 0; i < ISOLATED; i++) {
    if (run !== undefined) await run(i);
    await pause();
  }
  const used = process.cpuUsage(before);
  return (used.user + used.system) / ISOLATED;
}
const isolated = await interleave(
  {
    'hotpath WorkerPool': () => cpuPerIsolatedTask((n) => ours.run(n)),
    'piscina direct': () => cpuPerIsolatedTask((n) => theirs.run(n)),
    'pause only': () => cpuPerIsolatedTask(),
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
const batchCpu = {
  hotpath: median(cpuPerTask.hotpath!),
  piscina: median(cpuPerTask.piscina!),
};
console.log(
  `  process CPU per task (every thread, median): hotpath ${batchCpu.hotpath.toFixed(1)} µs,` +
    ` piscina ${batchCpu.piscina.toFixed(1)} µs, hotpath / piscina ${(batchCpu.hotpath / batchCpu.piscina).toFixed(3)}x`,
);
const pauseCpu = isolated['pause only']!.median;
const isolatedOurs = isolated['hotpath WorkerPool']!.median - pauseCpu;
const isolatedTheirs = isolated['piscina direct']!.median - pauseCpu;
console.log(
  `one task at a time, ${ISOLATED} with a 2 ms pause between, process CPU per task beyond the pause (median of ${ROUNDS}):\n` +
    `  hotpath WorkerPool  ${isolatedOurs.toFixed(0)} µs\n` +
    `  piscina direct      ${isolatedTheirs.toFixed(0)} µs   hotpath / piscina ${(isolatedOurs / isolatedTheirs).toFixed(2)}x\n` +
    `  (the pause alone: ${pauseCpu.toFixed(0)} µs per iteration)`,
);
writeResult('concurrency-pool', {
  tasks: TASKS,
  batch: BATCH,
  results,
  timePerTaskRatio: overhead,
  cpuPerTask,
  cpuPerTaskRatio: batchCpu.hotpath / batchCpu.piscina,
  isolated,
  isolatedCpuMicrosPerTask: { hotpath: isolatedOurs, piscina: isolatedTheirs, pause: pauseCpu },
});
