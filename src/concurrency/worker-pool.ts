import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';
import { isAbsolute } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { TransferListItem } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { AbortedError, ClosedError, InvalidOptionError } from '../errors/index.js';
import { checkNumber, checkString } from '../internal/validate-options.js';
import { siblingModule } from '../internal/ts-worker.js';
import { HistogramMetric, type Histogram, type MetricsRegistry } from '../metrics/index.js';
import { PoolQueueFullError } from './errors.js';
import type { PoolTaskResult, PoolWorkerData } from './pool-worker.js';

/** Options of {@link WorkerPool}. */
export interface WorkerPoolOptions {
  /** The task module (path or `file:` URL); its export `name` is called with each task. */
  filename: string | URL;
  /**
   * The export to call.
   * @defaultValue `'default'`
   */
  name?: string;
  /**
   * Threads kept alive when idle.
   * @defaultValue 1
   */
  minThreads?: number;
  /**
   * Threads at most.
   * @defaultValue `availableParallelism() - 1`, at least 1
   */
  maxThreads?: number;
  /**
   * Tasks one thread runs at once (more than 1 only helps tasks that await I/O).
   * @defaultValue 1
   */
  concurrentTasksPerWorker?: number;
  /**
   * Tasks waiting for a thread beyond those running; one more is refused with
   * {@link PoolQueueFullError}.
   * @defaultValue `maxThreads * 4`
   */
  maxQueue?: number;
  /**
   * Milliseconds an idle thread above `minThreads` lives.
   * @defaultValue 30000
   */
  idleTimeoutMs?: number;
  /** Registry to expose the pool's metrics in (`<prefix>_queue_wait_seconds`, `_run_seconds`, `_in_flight`, `_utilization`). */
  registry?: MetricsRegistry;
  /**
   * Name prefix of the pool's metrics.
   * @defaultValue `'hotpath_pool'`
   */
  metricsPrefix?: string;
}

/** Options of {@link WorkerPool.run}. */
export interface RunTaskOptions {
  /** Cancels the task: a queued task leaves the queue, a running one ends with its thread. */
  signal?: AbortSignal;
  /** Objects moved to the thread instead of copied (an `ArrayBuffer`, a `MessagePort`). */
  transferList?: readonly TransferListItem[];
}

/** A point-in-time view of a {@link WorkerPool}. */
export interface WorkerPoolStats {
  /** Tasks submitted and not settled: running or queued. */
  inFlight: number;
  /** Of those, tasks beyond the running slots, so waiting for a thread. */
  queued: number;
  /** Running slots plus `maxQueue`: `inFlight` never exceeds it. */
  capacity: number;
  /** Threads alive. */
  threads: number;
  /** Fraction of the pool's thread time spent running tasks since start, 0 to 1 (piscina's utilization). */
  utilization: number;
  /** Tasks finished, successfully or not. */
  completed: number;
}

const MICROS_BUCKETS = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
];

/**
 * A pool of worker threads for CPU-bound work (hashing, signing, parsing, compression), on
 * piscina, with a bounded queue that refuses work with a typed error instead of growing, an
 * `isFull` check to shed before submitting, per-task cancellation and histograms of queue
 * wait and run time. It does not make I/O faster: an `await fetch()` belongs on the main thread.
 *
 * The queue bound is counted here, per task from `run()` until it settles, so an aborted task
 * frees its place at once (piscina#1029 reported queue sizes drifting after aborts).
 * @example
 * ```ts
 * const pool = new WorkerPool({ filename: new URL('./sign.js', import.meta.url), maxQueue: 64 });
 * if (pool.isFull) return reply.code(503).send();
 * const signature = await pool.run(payload, { signal: request.signal });
 * await pool.close();
 * ```
 */
export class WorkerPool<Task = unknown, Result = unknown> {
  readonly #piscina: Piscina;
  readonly #capacity: number;
  readonly #slots: number;
  readonly #queueWait: HistogramMetric;
  readonly #runTime: HistogramMetric;
  #inFlight = 0;
  #closed = false;
  #closing: Promise<void> | undefined;

  /** @throws {@link InvalidOptionError} `HP_ERR_INVALID_OPTION` naming a bad option. */
  constructor(options: WorkerPoolOptions) {
    const filename = toPath(options.filename);
    const name = checkString('name', options.name ?? 'default');
    const maxThreads = checkNumber(
      'maxThreads',
      options.maxThreads ?? Math.max(1, availableParallelism() - 1),
      { min: 1, integer: true },
    );
    const minThreads = checkNumber('minThreads', options.minThreads ?? 1, {
      min: 0,
      max: maxThreads,
      integer: true,
    });
    const perWorker = checkNumber(
      'concurrentTasksPerWorker',
      options.concurrentTasksPerWorker ?? 1,
      {
        min: 1,
        integer: true,
      },
    );
    const maxQueue = checkNumber('maxQueue', options.maxQueue ?? maxThreads * 4, {
      min: 0,
      integer: true,
    });
    const idleTimeout = checkNumber('idleTimeoutMs', options.idleTimeoutMs ?? 30_000, { min: 0 });
    const prefix = checkString('metricsPrefix', options.metricsPrefix ?? 'hotpath_pool');
    this.#slots = maxThreads * perWorker;
    this.#capacity = this.#slots + maxQueue;
    const workerData: PoolWorkerData = { filename: fileUrl(filename), name };
    const entry = siblingModule('pool-worker', import.meta.url);
    this.#piscina = new Piscina({
      filename: fileURLToPath(entry),
      workerData,
      execArgv: threadExecArgv(entry),
      minThreads,
      maxThreads,
      concurrentTasksPerWorker: perWorker,
      idleTimeout,
      // The bound is enforced in run(); piscina's own queue stays unbounded underneath.
      maxQueue: Infinity,
      recordTiming: false,
    });
    const timing = { lowest: 1, highest: 600e6, scale: 1e-6, buckets: MICROS_BUCKETS };
    this.#queueWait = new HistogramMetric({
      name: `${prefix}_queue_wait_seconds`,
      help: 'Time tasks waited for a worker thread',
      ...timing,
    });
    this.#runTime = new HistogramMetric({
      name: `${prefix}_run_seconds`,
      help: 'Time tasks ran on a worker thread (successful tasks)',
      ...timing,
    });
    const registry = options.registry;
    if (registry !== undefined) {
      registry.register(this.#queueWait);
      registry.register(this.#runTime);
      const inFlight = registry.gauge({
        name: `${prefix}_in_flight`,
        help: 'Tasks running or queued',
        collect: () => inFlight.set(this.#inFlight),
      });
      const utilization = registry.gauge({
        name: `${prefix}_utilization`,
        help: 'Fraction of thread time spent running tasks since start',
        collect: () => utilization.set(this.#piscina.utilization),
      });
    }
  }

  /** Whether the next {@link WorkerPool.run} would be refused with {@link PoolQueueFullError}. */
  get isFull(): boolean {
    return this.#inFlight >= this.#capacity;
  }

  /** Queue wait per task, in microseconds. */
  get queueWait(): Histogram {
    return this.#queueWait.histogram;
  }

  /** Run time per successful task, in microseconds. */
  get runTime(): Histogram {
    return this.#runTime.histogram;
  }

  /** Counts and utilization now. */
  stats(): WorkerPoolStats {
    return {
      inFlight: this.#inFlight,
      queued: Math.max(0, this.#inFlight - this.#slots),
      capacity: this.#capacity,
      threads: this.#piscina.threads.length,
      utilization: this.#piscina.utilization,
      completed: this.#piscina.completed,
    };
  }

  /**
   * Runs `task` on a thread and resolves with what the task function returned (or moved).
   * @throws {@link PoolQueueFullError} `HP_ERR_POOL_QUEUE_FULL` when running slots and queue are full.
   * @throws {@link AbortedError} `HP_ERR_ABORTED` when `signal` aborts first.
   * @throws {@link ClosedError} `HP_ERR_CLOSED` after {@link WorkerPool.close}.
   * @throws whatever the task threw (cloned across the thread boundary).
   */
  run(task: Task, options?: RunTaskOptions): Promise<Result> {
    if (this.#closed) return Promise.reject(new ClosedError('worker pool'));
    const signal = options?.signal;
    if (signal?.aborted === true) {
      return Promise.reject(new AbortedError(undefined, { cause: signal.reason }));
    }
    if (this.#inFlight >= this.#capacity) {
      return Promise.reject(new PoolQueueFullError(this.#capacity));
    }
    this.#inFlight++;
    const submittedAt = performance.timeOrigin + performance.now();
    const runOptions: { signal?: AbortSignal; transferList?: TransferListItem[] } = {};
    if (signal !== undefined) runOptions.signal = signal;
    if (options?.transferList !== undefined) runOptions.transferList = [...options.transferList];
    return (this.#piscina.run(task, runOptions) as Promise<PoolTaskResult>).then(
      (result) => {
        this.#inFlight--;
        this.#queueWait.record(Math.max(1, (result.startedAt - submittedAt) * 1000));
        this.#runTime.record(Math.max(1, result.runMs * 1000));
        return result.value as Result;
      },
      (error: unknown) => {
        this.#inFlight--;
        if (signal?.aborted === true) throw new AbortedError(undefined, { cause: error });
        throw error;
      },
    );
  }

  /** Refuses new tasks, lets running and queued ones finish, then stops the threads. */
  close(): Promise<void> {
    this.#closed = true;
    this.#closing ??= this.#piscina.close();
    return this.#closing;
  }
}

/**
 * Run from the TypeScript sources (tests, `npm run dev`), a thread needs tsx's loader; a test
 * runner's child process does not always carry `--import tsx` in its execArgv, so add it.
 */
function threadExecArgv(entry: URL): string[] | undefined {
  const inherited = process.execArgv;
  // undefined lets the thread inherit the process's options: a list given explicitly is
  // checked, and V8 or process-wide flags (--max-old-space-size, --expose-gc) in it make
  // Node refuse to start the thread (ERR_WORKER_INVALID_EXEC_ARGV, Node 20).
  if (!entry.pathname.endsWith('.ts') || inherited.join(' ').includes('tsx')) return undefined;
  return [...inherited, '--import', import.meta.resolve('tsx')];
}

function toPath(filename: unknown): string {
  if (filename instanceof URL) return fileURLToPath(filename);
  return checkString('filename', filename);
}

function fileUrl(path: string): string {
  if (path.startsWith('file:')) return path;
  if (!isAbsolute(path)) {
    throw new InvalidOptionError(
      'filename',
      `expected an absolute path or file: URL, got "${path}"`,
    );
  }
  return pathToFileURL(path).href;
}
