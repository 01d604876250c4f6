import { spawn } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { ResourceLimits, Worker } from 'node:worker_threads';
import { ClosedError, InvalidOptionError } from '../../errors/index.js';
import { siblingModule, startWorker } from '../../internal/ts-worker.js';
import { DataDirLock } from './data-dir-lock.js';
import { MEMORY_INITDB_ARGS, startParams } from './embedded-settings.js';
import type { Database, QueryExecutor, QueryResult } from '../client/database.js';
import { pingWithin } from '../client/ping.js';
import { ConnectError, QueryError } from '../errors.js';

export { EMBEDDED_DEFAULT_SETTINGS } from './embedded-settings.js';

/** Options of {@link startEmbedded}. */
export interface EmbeddedDatabaseOptions {
  /** Directory of the database files, created if missing. Use `memory://` for a throwaway one. */
  dataDir: string;
  /** Called with progress lines while the engine boots (first boot runs initdb: seconds). */
  onProgress?: (message: string) => void;
  /**
   * PostgreSQL settings of the embedded engine (`-c name=value` at its start), over
   * {@link EMBEDDED_DEFAULT_SETTINGS}.
   * @throws {@link InvalidOptionError} `HP_ERR_INVALID_OPTION` on a name or value that is not
   *   one word.
   */
  settings?: Readonly<Record<string, string | number>>;
  /**
   * How often the engine checkpoints while it is used, in ms; 0 never (until `close()`).
   * PGlite runs PostgreSQL in single-user mode, where nothing checkpoints on its own: the WAL
   * would grow for as long as the process lives (in memory for `memory://`), and a restart
   * after a crash would replay all of it. A checkpoint waits its turn in the query queue.
   * @defaultValue 30000
   */
  checkpointIntervalMs?: number;
  /**
   * V8 limits of the worker thread that runs PGlite (Node's `Worker` `resourceLimits`).
   * The default young generation of 6 MB (V8's own grows to 48 MB under the worker's
   * allocation rate of query results) keeps some 25 MB less committed heap.
   * @defaultValue `{ maxYoungGenerationSizeMb: 6 }`
   */
  workerResourceLimits?: ResourceLimits;
}

/** @internal The worker limits used unless `workerResourceLimits` says otherwise. */
export const EMBEDDED_WORKER_RESOURCE_LIMITS: Readonly<ResourceLimits> = {
  maxYoungGenerationSizeMb: 6,
};

/** Memory of the worker thread that runs PGlite, from {@link EmbeddedDatabase.memoryUsage}. */
export interface EmbeddedMemoryUsage {
  /** PGlite's WASM memory (allocated; pages never touched take no RSS). */
  wasmBytes: number;
  /** The worker's V8 heap, committed and used. */
  heapTotalBytes: number;
  heapUsedBytes: number;
  /** The committed size of the worker's young generation (V8's `new_space`). */
  newSpaceBytes: number;
  /** ArrayBuffers of the worker (a `memory://` database's files among them). */
  arrayBuffersBytes: number;
}

/**
 * Runs initdb in a child process that then exits: initdb grows PGlite's WASM memory by
 * hundreds of MB, which a process keeps for good (it never shrinks, and a worker thread's
 * share is not all returned either). A new directory on disk is initialised in place; for
 * `memory://` the child answers the initialised files as a gzipped tar (PGlite's
 * `dumpDataDir`), from which the serving engine loads its in-memory files.
 * @returns the tar image for `memory://`, undefined for a directory
 */
function initInChildProcess(
  dataDir: string,
  params: readonly string[],
  memory: boolean,
): Promise<Uint8Array | undefined> {
  const pglite = import.meta.resolve('@electric-sql/pglite');
  const initdbArgs = memory ? MEMORY_INITDB_ARGS : [];
  const code =
    `const { PGlite } = await import(${JSON.stringify(pglite)});\n` +
    `const db = await PGlite.create(${JSON.stringify(dataDir)}, ` +
    `{ startParams: [...PGlite.defaultStartParams, ...${JSON.stringify(params)}], ` +
    `initDbStartParams: ${JSON.stringify(initdbArgs)} });\n` +
    (memory
      ? `const image = await db.dumpDataDir('gzip');\n` +
        `await db.close();\n` +
        `process.stdout.write(new Uint8Array(await image.arrayBuffer()));\n`
      : `await db.close();\n`);
  return new Promise((resolveInit, rejectInit) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', code], {
      stdio: ['ignore', memory ? 'pipe' : 'ignore', 'pipe'],
    });
    const image: Buffer[] = [];
    child.stdout?.on('data', (chunk: Buffer) => image.push(chunk));
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      if (stderr.length < 4000) stderr += chunk.toString();
    });
    child.once('error', rejectInit);
    child.once('close', (code) => {
      if (code !== 0) rejectInit(new Error(`initdb process exited with ${code}: ${stderr.trim()}`));
      else resolveInit(memory ? new Uint8Array(Buffer.concat(image)) : undefined);
    });
  });
}

interface Pending {
  resolve: (result: QueryResult<unknown>) => void;
  reject: (error: unknown) => void;
}

interface Reply {
  id: number;
  ok: boolean;
  rows?: unknown[];
  rowCount?: number;
  memory?: EmbeddedMemoryUsage;
  error?: Record<string, string | undefined>;
}

/**
 * Embedded PostgreSQL (PGlite) in a worker thread, behind the {@link Database} interface.
 * PGlite is a single connection that blocks its thread while it works; in a worker, the
 * event loop that serves `/health` and `/metrics` stays free. Queries run one at a time in
 * arrival order; a transaction holds the connection until it ends.
 *
 * Not representative of a PostgreSQL server's performance: use it for development and tests.
 */
export class EmbeddedDatabase implements Database {
  /**
   * The name of the worker thread that runs PGlite: profile it with
   * `/debug/pprof/profile?worker=hotpath-pglite` (hotpath/profile).
   */
  static readonly workerName = 'hotpath-pglite';
  readonly kind = 'pglite' as const;
  readonly #worker: Worker;
  readonly #lock: DataDirLock | undefined;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  // Tail of the queue: every operation waits for the previous one (one connection).
  #tail: Promise<unknown> = Promise.resolve();
  #closing: Promise<void> | undefined;
  #crash: Error | undefined;
  readonly #checkpointTimer: NodeJS.Timeout | undefined;
  // Whether anything ran since the last checkpoint: an idle engine is not woken for nothing.
  #usedSinceCheckpoint = false;

  private constructor(worker: Worker, lock: DataDirLock | undefined, checkpointIntervalMs: number) {
    this.#worker = worker;
    this.#lock = lock;
    if (checkpointIntervalMs > 0) {
      this.#checkpointTimer = setInterval(() => this.#checkpoint(), checkpointIntervalMs);
      this.#checkpointTimer.unref();
    }
    worker.on('message', (reply: Reply) => this.#settle(reply));
    worker.on('error', (error) => this.#fail(error));
    worker.on('exit', (code) =>
      this.#fail(new ConnectError(`embedded database worker exited (code ${code})`)),
    );
  }

  /** @internal Used by {@link startEmbedded}. */
  static adopt(worker: Worker, lock?: DataDirLock, checkpointIntervalMs = 0): EmbeddedDatabase {
    return new EmbeddedDatabase(worker, lock, checkpointIntervalMs);
  }

  query<Row = Record<string, unknown>>(
    text: string,
    params?: readonly unknown[],
  ): Promise<QueryResult<Row>> {
    this.#usedSinceCheckpoint = true;
    return this.#enqueue(() => this.#send<Row>('query', text, params));
  }

  transaction<T>(fn: (tx: QueryExecutor) => Promise<T>): Promise<T> {
    this.#usedSinceCheckpoint = true;
    return this.#enqueue(async () => {
      let open = true;
      const tx: QueryExecutor = {
        query: <Row>(text: string, params?: readonly unknown[]) => {
          if (!open) return Promise.reject(new ClosedError('transaction'));
          return this.#send<Row>('query', text, params);
        },
      };
      await this.#send('exec', 'BEGIN');
      try {
        const value = await fn(tx);
        await this.#send('exec', 'COMMIT');
        return value;
      } catch (error) {
        await this.#send('exec', 'ROLLBACK').catch(() => {});
        throw error;
      } finally {
        open = false;
      }
    });
  }

  ping(timeoutMs = 2000): Promise<void> {
    return pingWithin(this, timeoutMs);
  }

  /**
   * The memory of the worker thread that runs PGlite: its WASM memory, V8 heap and
   * ArrayBuffers. Answered between two queries, without waiting for the queue.
   * @throws {@link ClosedError} `HP_ERR_CLOSED` after `close()`.
   */
  async memoryUsage(): Promise<EmbeddedMemoryUsage> {
    if (this.#closing !== undefined) throw new ClosedError('embedded database');
    const { rows } = await this.#send<EmbeddedMemoryUsage>('memory');
    return rows[0]!;
  }

  close(): Promise<void> {
    clearInterval(this.#checkpointTimer);
    this.#closing ??= (async () => {
      await this.#tail.catch(() => {});
      if (this.#crash === undefined) {
        await this.#send('close').catch(() => {});
      }
      await this.#worker.terminate();
      // Only once the engine is gone may another process open its files.
      this.#lock?.release();
    })();
    return this.#closing;
  }

  #enqueue<T>(operation: () => Promise<T>): Promise<T> {
    if (this.#closing !== undefined) return Promise.reject(new ClosedError('embedded database'));
    const result = this.#tail.then(operation, operation);
    this.#tail = result.catch(() => {});
    return result;
  }

  #checkpoint(): void {
    if (!this.#usedSinceCheckpoint || this.#closing !== undefined || this.#crash !== undefined)
      return;
    this.#usedSinceCheckpoint = false;
    // A failed checkpoint loses nothing (the WAL is kept); the next one, or close(), retries.
    this.#enqueue(() => this.#send('exec', 'CHECKPOINT')).catch(() => {});
  }

  #send<Row>(
    op: 'query' | 'exec' | 'close' | 'memory',
    text?: string,
    params?: readonly unknown[],
  ): Promise<QueryResult<Row>> {
    if (this.#crash !== undefined) return Promise.reject(this.#crash);
    const id = this.#nextId++;
    return new Promise<QueryResult<Row>>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as Pending['resolve'], reject });
      this.#worker.postMessage({ id, op, text, params });
    });
  }

  #settle(reply: Reply): void {
    const pending = this.#pending.get(reply.id);
    if (pending === undefined) return;
    this.#pending.delete(reply.id);
    if (reply.ok) pending.resolve({ rows: reply.rows ?? [], rowCount: reply.rowCount ?? 0 });
    else pending.reject(QueryError.from(reply.error));
  }

  #fail(error: Error): void {
    if (this.#closing !== undefined && this.#pending.size === 0) return;
    this.#crash ??=
      error instanceof ConnectError ? error : new ConnectError(error.message, { cause: error });
    for (const pending of this.#pending.values()) pending.reject(this.#crash);
    this.#pending.clear();
  }
}

/**
 * Starts embedded PostgreSQL (PGlite) in a worker thread and resolves once it answers.
 * The first start in an empty directory runs initdb and takes seconds; `onProgress` hears it.
 * A directory (not `memory://`) is locked for this process by a `hotpath.lock` file holding
 * its pid, removed by `close()`; a lock left by a process that is gone is taken over.
 * @throws {@link DatabaseLockedError} `HP_ERR_DB_LOCKED` naming the lock file and the process
 *   when another live process has the directory open.
 * @throws {@link ConnectError} `HP_ERR_DB_CONNECT` naming the data directory if it cannot start.
 * @example
 * const db = await startEmbedded({ dataDir: './data' });
 * const { rows } = await db.query('SELECT now() AS now');
 */
export async function startEmbedded(options: EmbeddedDatabaseOptions): Promise<EmbeddedDatabase> {
  const memory = options.dataDir.startsWith('memory://');
  const dataDir = memory ? options.dataDir : resolve(options.dataDir);
  const params = startParams(options.settings, memory);
  const checkpointIntervalMs = options.checkpointIntervalMs ?? 30_000;
  if (!Number.isFinite(checkpointIntervalMs) || checkpointIntervalMs < 0)
    throw new InvalidOptionError('checkpointIntervalMs', 'must be a number of ms >= 0');
  if (!memory) {
    try {
      mkdirSync(dataDir, { recursive: true });
    } catch (error) {
      throw new ConnectError(
        `cannot create data directory ${dataDir}: ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    }
  }
  // PGlite does not lock its files: a second process on them corrupts the catalog.
  const lock = memory ? undefined : DataDirLock.acquire(dataDir);
  let image: Uint8Array | undefined;
  if (memory || !existsSync(join(dataDir, 'PG_VERSION'))) {
    options.onProgress?.(`initialising a new embedded database in ${dataDir} ...`);
    try {
      image = await initInChildProcess(dataDir, params, memory);
    } catch (error) {
      lock?.release();
      throw new ConnectError(
        `embedded PostgreSQL could not initialise ${dataDir}: ${(error as Error).message}`,
        { cause: error },
      );
    }
  }
  options.onProgress?.(`starting embedded PostgreSQL (PGlite) in ${dataDir}`);
  let worker: Worker;
  try {
    worker = startWorker(siblingModule('pglite-worker', import.meta.url), {
      workerData: { dataDir, startParams: params, image },
      transferList: image === undefined ? [] : [image.buffer as ArrayBuffer],
      // Named, so a CPU or heap profile can target it (`/debug/pprof/profile?worker=...`).
      name: EmbeddedDatabase.workerName,
      resourceLimits: options.workerResourceLimits ?? EMBEDDED_WORKER_RESOURCE_LIMITS,
    });
  } catch (error) {
    lock?.release();
    throw error;
  }
  const ticker = setInterval(
    () => options.onProgress?.('still starting embedded PostgreSQL ...'),
    2000,
  );
  ticker.unref();
  try {
    const bootMs = await new Promise<number>((resolveBoot, rejectBoot) => {
      const onMessage = (message: {
        ready?: boolean;
        bootMs?: number;
        error?: { message?: string };
      }) => {
        if (message.ready === undefined) return;
        worker.off('message', onMessage);
        if (message.ready) resolveBoot(message.bootMs ?? 0);
        else rejectBoot(new Error(message.error?.message ?? 'unknown error'));
      };
      worker.on('message', onMessage);
      worker.once('error', rejectBoot);
      worker.once('exit', (code) => rejectBoot(new Error(`worker exited with code ${code}`)));
    });
    options.onProgress?.(`embedded PostgreSQL ready in ${(bootMs / 1000).toFixed(1)} s`);
  } catch (error) {
    await worker.terminate();
    lock?.release();
    throw new ConnectError(
      `embedded PostgreSQL did not start in ${dataDir}: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  } finally {
    clearInterval(ticker);
  }
  worker.removeAllListeners('error');
  worker.removeAllListeners('exit');
  return EmbeddedDatabase.adopt(worker, lock, checkpointIntervalMs);
}
