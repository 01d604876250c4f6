/**
 * The module piscina runs in each thread of a {@link WorkerPool}: it loads the caller's task
 * module once and wraps every result with the time the task started and ran, so the pool can
 * split queue wait from run time in its histograms. Not exported.
 */
import { performance } from 'node:perf_hooks';
import { move, transferableSymbol, valueSymbol, workerData } from 'piscina';

/** What the pool passes to each thread. */
export interface PoolWorkerData {
  filename: string;
  name: string;
}

/** What a task answers: its value and, on the same clock as the pool's, when it started and how long it ran. */
export interface PoolTaskResult {
  value: unknown;
  startedAt: number;
  runMs: number;
}

type Handler = (task: unknown) => unknown;

const { filename, name } = workerData as PoolWorkerData;
let loading: Promise<Handler> | undefined;

/**
 * Loads the task module once. No top-level await: run from the TypeScript sources, piscina
 * loads this file through tsx's require hook, and on Node 20 a thread does not get tsx's ESM
 * hooks from `--import tsx`, so a `.ts` task module goes through tsx's `tsImport` (as
 * src/internal/ts-worker.ts does).
 */
async function load(): Promise<Handler> {
  let loaded: Record<string, unknown>;
  if (filename.endsWith('.ts')) {
    const tsx = (await import('tsx/esm/api')) as {
      tsImport: (specifier: string, parent: string) => Promise<Record<string, unknown>>;
    };
    loaded = await tsx.tsImport(filename, filename);
  } else loaded = (await import(filename)) as Record<string, unknown>;
  const candidate = loaded[name] ?? (name === 'default' ? undefined : loaded.default);
  if (typeof candidate !== 'function') {
    throw new TypeError(`${filename} exports no function named "${name}"`);
  }
  return candidate as Handler;
}

function now(): number {
  return performance.timeOrigin + performance.now();
}

export default async function runTask(task: unknown): Promise<unknown> {
  const handler = await (loading ??= load());
  const startedAt = now();
  const value = await handler(task);
  const runMs = now() - startedAt;
  if (value !== null && typeof value === 'object' && transferableSymbol in value) {
    // The task moved its result (piscina's move()): keep the transfer list, wrap the value.
    const moved = value as Record<symbol, unknown>;
    const wrapped: PoolTaskResult = { value: moved[valueSymbol], startedAt, runMs };
    return move({
      [transferableSymbol]: moved[transferableSymbol],
      [valueSymbol]: wrapped,
    } as never);
  }
  const result: PoolTaskResult = { value, startedAt, runMs };
  return result;
}
