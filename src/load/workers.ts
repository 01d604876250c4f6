/**
 * Runs one load test on several worker threads, each with an even share of the connections,
 * rate and request count, and merges their histograms exactly.
 */
import { Worker } from 'node:worker_threads';
import type { LoadOptions } from './options.js';
import type { LoadResult } from './result.js';
import type { SecondSample } from './stats.js';
import { LoadWorkerError } from './errors.js';
import { mergeResults } from './merge.js';

/** Messages from a worker to the parent. */
export type WorkerMessage =
  | { type: 'second'; sample: SecondSample; completed: number; errors: number }
  | { type: 'done'; result: LoadResult };

const isSource = import.meta.url.endsWith('.ts');
const entry = new URL(isSource ? './worker-entry.ts' : './worker-entry.js', import.meta.url);

/**
 * Run from TypeScript sources (the repository's `source` condition, through tsx), a worker does
 * not inherit tsx's module hooks on Node 20, so it registers them before importing its entry.
 */
function startWorker(workerData: unknown): Worker {
  if (!isSource) return new Worker(entry, { workerData });
  const api = import.meta.resolve('tsx/esm/api');
  const code = `import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(entry.href)}); })`;
  return new Worker(code, { eval: true, workerData });
}

/**
 * Starts `count` workers and resolves to their merged result. `onSecond` gets every worker's
 * second samples (to merge into one timeline).
 */
export async function runWorkers(
  options: LoadOptions,
  count: number,
  onSecond: (sample: SecondSample, worker: number, completed: number, errors: number) => void,
  signal?: AbortSignal,
): Promise<LoadResult> {
  const workers = Array.from({ length: count }, (_, index) =>
    startWorker({ options, index, count }),
  );
  const stop = () => {
    for (const w of workers) w.postMessage('stop');
  };
  signal?.addEventListener('abort', stop, { once: true });
  try {
    const results = await Promise.all(
      workers.map(
        (w, i) =>
          new Promise<LoadResult>((resolve, reject) => {
            let result: LoadResult | null = null;
            w.on('message', (m: WorkerMessage) => {
              if (m.type === 'second') onSecond(m.sample, i, m.completed, m.errors);
              else result = m.result;
            });
            w.once('error', (error) => reject(new LoadWorkerError(i, 'failed', { cause: error })));
            w.once('exit', (code) => {
              if (result !== null) resolve(result);
              else reject(new LoadWorkerError(i, `exited with code ${code} before reporting`));
            });
          }),
      ),
    );
    return mergeResults(results);
  } finally {
    signal?.removeEventListener('abort', stop);
    await Promise.all(workers.map((w) => w.terminate()));
  }
}
