/**
 * Worker-thread side of {@link EmbeddedDatabase}: owns one PGlite instance. PGlite runs its
 * WASM on the calling thread and blocks it for the whole of each query, so it lives here,
 * away from the event loop that serves requests.
 *
 * Protocol: the parent posts `{ id, op, text?, params? }`; the worker answers
 * `{ id, ok: true, rows, rowCount }` or `{ id, ok: false, error }` (`memory` answers one row:
 * the thread's memory usage). After start-up it posts
 * `{ ready: true, bootMs }` or `{ ready: false, error }`.
 */
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';
import { parentPort, workerData } from 'node:worker_threads';

interface Request {
  id: number;
  op: 'query' | 'exec' | 'close' | 'memory';
  text?: string;
  params?: unknown[];
}

interface WorkerInput {
  dataDir: string;
  /** `-c name=value` pairs after PGlite's own start parameters. */
  startParams?: string[];
  /** For `memory://`: the initialised files as a (gzipped) tar, from `dumpDataDir`. */
  image?: Uint8Array;
}

function serializeError(error: unknown): Record<string, unknown> {
  const e = (
    typeof error === 'object' && error !== null ? error : { message: String(error) }
  ) as Record<string, unknown>;
  return {
    message: e.message ?? String(error),
    code: e.code,
    constraint: e.constraint,
    detail: e.detail,
  };
}

const port = parentPort;
if (port === null) throw new Error('pglite-worker must run in a worker thread');

const { dataDir, startParams = [], image } = workerData as WorkerInput;
const started = performance.now();

try {
  const { PGlite } = await import('@electric-sql/pglite');
  // int8 (bigint) as a JS number when exact, so both backends hand the same types to callers
  // (the pg backend does the same through its type parser).
  // PGlite's WASM module is compiled by Liftoff only: V8's tier-up to TurboFan keeps a second,
  // optimized copy of the hot code and grows the process by some 50 MB for no measured gain
  // in query latency (docs/db.md "Memory"). V8 flags are process-wide: set while PGlite
  // compiles its module, then put back unless the process itself was started with it.
  setFlagsFromString('--liftoff-only');
  let db: InstanceType<typeof PGlite>;
  try {
    db = await PGlite.create(dataDir, {
      parsers: { 20: (value: string) => parseInt8(value) },
      startParams: [...PGlite.defaultStartParams, ...startParams],
      ...(image === undefined ? {} : { loadDataDir: new Blob([image]) }),
    });
  } finally {
    if (!process.execArgv.includes('--liftoff-only')) setFlagsFromString('--no-liftoff-only');
  }
  port.postMessage({ ready: true, bootMs: performance.now() - started });

  port.on('message', (request: Request) => {
    void handle(request);
  });

  // Requests arrive one at a time: the parent serializes them, and PGlite is one connection.
  const handle = async (request: Request): Promise<void> => {
    try {
      if (request.op === 'memory') {
        const usage = process.memoryUsage();
        const newSpace = getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
        const memory = {
          wasmBytes: db.Module.HEAPU8.byteLength,
          heapTotalBytes: usage.heapTotal,
          heapUsedBytes: usage.heapUsed,
          newSpaceBytes: newSpace?.space_size ?? 0,
          arrayBuffersBytes: usage.arrayBuffers,
        };
        port.postMessage({ id: request.id, ok: true, rows: [memory], rowCount: 1 });
        return;
      }
      if (request.op === 'close') {
        await db.close();
        port.postMessage({ id: request.id, ok: true, rows: [], rowCount: 0 });
        port.close();
        return;
      }
      if (request.op === 'exec') {
        await db.exec(request.text ?? '');
        port.postMessage({ id: request.id, ok: true, rows: [], rowCount: 0 });
        return;
      }
      const result = await db.query(request.text ?? '', request.params ?? []);
      port.postMessage({
        id: request.id,
        ok: true,
        rows: result.rows,
        rowCount: result.rowCount ?? result.affectedRows ?? result.rows.length,
      });
    } catch (error) {
      port.postMessage({ id: request.id, ok: false, error: serializeError(error) });
    }
  };
} catch (error) {
  port.postMessage({ ready: false, error: serializeError(error) });
}

function parseInt8(value: string): number | bigint {
  const n = Number(value);
  return Number.isSafeInteger(n) ? n : BigInt(value);
}
