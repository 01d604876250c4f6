import { isMainThread, parentPort, threadId } from 'node:worker_threads';
import { InvalidOptionError } from '../errors/index.js';
import { checkNumber } from '../internal/validate-options.js';
import type { MetricsRegistry, RegistrySnapshot } from './registry.js';

/** The `type` of the messages {@link shareWithParent} sends. */
export const METRICS_MESSAGE = 'hotpath:metrics';

/** What a worker sends its parent: its registry, or `null` when it stops sharing. */
export interface MetricsMessage {
  type: typeof METRICS_MESSAGE;
  source: string;
  snapshot: RegistrySnapshot | null;
}

/** Options of {@link shareWithParent}. */
export interface ShareOptions {
  /** How often the snapshot is sent, in milliseconds. @defaultValue 1000 */
  intervalMs?: number;
  /** Name of this worker in the parent. @defaultValue `thread-<threadId>` or `pid-<pid>` */
  source?: string;
}

/** Something that receives a worker's messages: a `Worker` or a cluster `Worker`. */
export interface MessageSource {
  on(event: 'message', listener: (message: unknown) => void): unknown;
  off(event: 'message', listener: (message: unknown) => void): unknown;
  once(event: 'exit', listener: () => void): unknown;
}

/**
 * In a worker thread or a cluster worker: sends `registry.snapshot()` to the parent now and
 * every `intervalMs`, so one scrape of the parent (see {@link collectFromWorker}) covers every
 * thread and process. `close()` stops and tells the parent to forget this worker.
 * @throws {@link InvalidOptionError} `HP_ERR_INVALID_OPTION` when there is no parent to send to.
 */
export function shareWithParent(
  registry: MetricsRegistry,
  options: ShareOptions = {},
): { close(): Promise<void> } {
  const intervalMs = checkNumber('intervalMs', options.intervalMs ?? 1000, { min: 10 });
  const post: ((message: MetricsMessage) => void) | undefined =
    parentPort !== null
      ? (m) => parentPort!.postMessage(m)
      : typeof process.send === 'function'
        ? (m) => process.send!(m)
        : undefined;
  if (post === undefined) {
    throw new InvalidOptionError('parent', 'not in a worker thread or a forked/cluster process');
  }
  const source = options.source ?? (isMainThread ? `pid-${process.pid}` : `thread-${threadId}`);
  const send = (): void => post({ type: METRICS_MESSAGE, source, snapshot: registry.snapshot() });
  send();
  const timer = setInterval(send, intervalMs);
  timer.unref();
  return {
    async close() {
      clearInterval(timer);
      post({ type: METRICS_MESSAGE, source, snapshot: null });
    },
  };
}

/**
 * In the parent: merges the snapshots a worker sends into `registry` (see
 * `MetricsRegistry.setRemote`), and forgets them when the worker exits. Returns the function
 * that stops listening.
 */
export function collectFromWorker(registry: MetricsRegistry, worker: MessageSource): () => void {
  const sources = new Set<string>();
  const onMessage = (message: unknown): void => {
    const m = message as Partial<MetricsMessage> | null;
    if (m === null || typeof m !== 'object' || m.type !== METRICS_MESSAGE) return;
    if (typeof m.source !== 'string') return;
    if (m.snapshot === null || m.snapshot === undefined) {
      sources.delete(m.source);
      registry.setRemote(m.source, undefined);
    } else {
      sources.add(m.source);
      registry.setRemote(m.source, m.snapshot);
    }
  };
  worker.on('message', onMessage);
  worker.once('exit', () => {
    worker.off('message', onMessage);
    for (const source of sources) registry.setRemote(source, undefined);
  });
  return () => worker.off('message', onMessage);
}
