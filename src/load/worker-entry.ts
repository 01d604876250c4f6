/**
 * Worker-thread side of `load({ workers })`: runs one share of the test and reports its
 * seconds and result to the parent.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { Engine } from './engine.js';
import { type LoadOptions, resolveOptions, shareFor } from './options.js';
import type { WorkerMessage } from './workers.js';

const { options, index, count } = workerData as {
  options: LoadOptions;
  index: number;
  count: number;
};
const port = parentPort!;
const controller = new AbortController();
port.on('message', (m: string) => {
  if (m === 'stop') controller.abort();
});
const engine = new Engine(shareFor(resolveOptions(options), index, count), {
  onSecond: (sample, completed, errors) =>
    port.postMessage({ type: 'second', sample, completed, errors } satisfies WorkerMessage),
});
const result = await engine.run(controller.signal);
port.postMessage({ type: 'done', result } satisfies WorkerMessage);
port.close();
