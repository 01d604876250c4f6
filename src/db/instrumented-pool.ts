import type { Pool, PoolClient, PoolConfig, QueryResult } from 'pg';
import { AbortedError, InvalidOptionError } from '../errors/index.js';
import { monotonicClock, type Clock } from '../internal/clock.js';
import { checkNumber } from '../internal/validate-options.js';
import { Histogram } from '../metrics/index.js';
import { dbChannels } from './channels.js';
import type { NPlusOneDetector } from './n-plus-one.js';
import { LeakDetector, type LeakReport } from './leak-detector.js';
import { QueryObserver, type QueryShape } from './query-observer.js';
import { QueryStats } from './query-stats.js';
import { INTERNAL_SQL } from './sql-client.js';
import type { SlowQueryLog } from './slow-query-log.js';
import { PoolTimeoutError } from './toolkit-errors.js';

/** Options of {@link instrumentPool} and {@link createPool}. */
export interface InstrumentPoolOptions {
  /**
   * Longest wait for a free connection before {@link PoolTimeoutError}, in milliseconds; 0 waits
   * forever (pg's default, which turns an exhausted pool into requests that never answer).
   * @defaultValue 5000
   */
  acquireTimeoutMs?: number;
  /**
   * A client checked out (`pool.connect()`) for longer than this is reported as a leak, with the
   * stack that acquired it, in milliseconds; 0 turns the detector off (and the stack capture, about
   * a microsecond per checkout).
   * @defaultValue 30000
   */
  leakDetectionMs?: number;
  /**
   * Send parameterized text queries as named (prepared) statements, parsed once per connection.
   * @defaultValue true
   */
  prepare?: boolean;
  /** Per-fingerprint statistics; a new {@link QueryStats} by default, `false` for none. */
  stats?: QueryStats | false;
  /** Slow-query log fed after every query. */
  slowQueries?: SlowQueryLog;
  /** N+1 detector fed before every query. */
  nPlusOne?: NPlusOneDetector;
  /** Called for each leak found (default: one process warning per acquire site). */
  onLeak?: (report: LeakReport) => void;
  clock?: Clock;
}

/** Options of {@link createPool}: pg's pool settings plus the instrumentation's. */
export interface CreatePoolOptions extends InstrumentPoolOptions {
  /** `postgres://...`. */
  connectionString?: string;
  /**
   * Connections at most.
   * @defaultValue 10
   */
  max?: number;
  /**
   * Idle connections are closed after this long, in milliseconds.
   * @defaultValue 30000
   */
  idleTimeoutMillis?: number;
  /** Any other pg `PoolConfig` field. */
  pg?: PoolConfig;
}

/** The pool's state and counters; see {@link InstrumentedPool.metrics}. */
export interface PoolMetrics {
  /** Connections open (idle + in use). */
  total: number;
  idle: number;
  inUse: number;
  /** Callers waiting for a connection. */
  waiting: number;
  max: number;
  /** Connections handed out since instrumentation began. */
  acquires: number;
  /** Acquires that hit the deadline. */
  acquireTimeouts: number;
  /** Acquires that failed (could not connect). */
  acquireErrors: number;
  /** Queries that failed. */
  queryErrors: number;
  /** Errors on idle connections (server restart, network). */
  idleErrors: number;
  /** Wait for a connection, in milliseconds. */
  acquireWaitMs: { count: number; mean: number; p50: number; p99: number; max: number };
  /**
   * Seconds spent waiting for a connection per second of wall time since the previous call (or
   * since start): 0 when nobody waits, 3 when three callers waited all along. Above 0 the pool
   * is the bottleneck.
   */
  saturation: number;
  /** Clients held past the leak threshold right now. */
  leaked: number;
}

type QueryFn = (...args: unknown[]) => unknown;
type Callback = (error: Error | undefined, result?: unknown) => void;
type AcquireCallback = (error: Error | undefined, client?: PoolClient, done?: unknown) => void;

/**
 * A pg `Pool` with metrics, an acquire deadline, a leak detector and per-query hooks (timing,
 * fingerprint statistics, slow-query log, N+1 detection, named statements). It instruments the
 * pool in place, at the driver layer: code already holding the pool, an ORM or a
 * {@link PostgresDatabase}, is measured too. Use {@link createPool} or {@link instrumentPool}.
 */
export class InstrumentedPool {
  readonly #pool: Pool;
  readonly #ownsPool: boolean;
  readonly #acquireTimeoutMs: number;
  readonly #leakMs: number;
  readonly #prepare: boolean;
  readonly #stats: QueryStats | undefined;
  readonly #observer: QueryObserver;
  readonly #clock: Clock;
  readonly #origConnect: Pool['connect'];
  readonly #origQueries = new Map<PoolClient, QueryFn>();
  readonly #leaks: LeakDetector<PoolClient>;
  readonly #acquireWait = new Histogram({ lowest: 1, highest: 3.6e9, precision: 0.01 });
  #inPoolQuery = false;
  #acquires = 0;
  #acquireTimeouts = 0;
  #acquireErrors = 0;
  #queryErrors = 0;
  #idleErrors = 0;
  #waitedMs = 0;
  #lastSaturationAt: number;
  #lastWaitedMs = 0;
  #closed = false;
  readonly #onIdleError = (): void => {
    this.#idleErrors++;
  };
  readonly #onRemove = (client: PoolClient): void => {
    this.#origQueries.delete(client);
    this.#leaks.release(client);
  };

  /** @throws {@link InvalidOptionError} `HP_ERR_INVALID_OPTION` on a bad option. */
  constructor(pool: Pool, options: InstrumentPoolOptions = {}, ownsPool = false) {
    if (pool === null || typeof pool !== 'object' || typeof pool.connect !== 'function') {
      throw new InvalidOptionError('pool', 'expected a pg Pool');
    }
    if ((pool as unknown as Record<symbol, unknown>)[INSTRUMENTED] === true) {
      throw new InvalidOptionError('pool', 'this pool is already instrumented');
    }
    this.#acquireTimeoutMs = checkNumber('acquireTimeoutMs', options.acquireTimeoutMs ?? 5000, {
      min: 0,
    });
    this.#leakMs = checkNumber('leakDetectionMs', options.leakDetectionMs ?? 30_000, { min: 0 });
    this.#prepare = options.prepare ?? true;
    this.#stats = options.stats === false ? undefined : (options.stats ?? new QueryStats());
    this.#observer = new QueryObserver({
      stats: this.#stats,
      slowQueries: options.slowQueries,
      nPlusOne: options.nPlusOne,
    });
    this.#clock = options.clock ?? monotonicClock;
    this.#leaks = new LeakDetector<PoolClient>(this.#leakMs, this.#clock, options.onLeak);
    this.#pool = pool;
    this.#ownsPool = ownsPool;
    this.#lastSaturationAt = this.#clock.now();

    (pool as unknown as Record<symbol, unknown>)[INSTRUMENTED] = true;
    this.#origConnect = pool.connect;
    // pg-pool's own query() calls this.connect(callback) synchronously: #inPoolQuery tells
    // such short checkouts (released by pg itself) from application ones, which get a stack.
    pool.connect = ((callback?: unknown): Promise<PoolClient> | undefined => {
      const track = !this.#inPoolQuery;
      if (typeof callback === 'function') {
        this.#acquire(track, callback as AcquireCallback);
        return undefined;
      }
      return new Promise<PoolClient>((resolve, reject) =>
        this.#acquire(track, (error, client) =>
          error !== undefined || client === undefined ? reject(error) : resolve(client),
        ),
      );
    }) as Pool['connect'];
    const origPoolQuery = pool.query as unknown as QueryFn;
    pool.query = ((config: unknown, values?: unknown, callback?: unknown): unknown => {
      // pg-pool runs client.query from a callback, where the caller's stack is gone: count
      // N+1 here, while the application's frame is still on the stack, and mark the query.
      if (typeof config === 'string' && this.#observer.detectsNPlusOne) {
        let shape: QueryShape;
        if (typeof values === 'function') {
          callback = values;
          values = undefined;
        }
        try {
          shape = this.#observer.shape(config);
          this.#observer.before(shape);
        } catch (error) {
          if (typeof callback !== 'function') return Promise.reject(error);
          process.nextTick(callback as Callback, error);
          return undefined;
        }
        config = { text: config, values, [OBSERVED]: shape };
        values = undefined;
      }
      this.#inPoolQuery = true;
      try {
        return origPoolQuery.call(pool, config, values, callback);
      } finally {
        this.#inPoolQuery = false;
      }
    }) as Pool['query'];
    this.#restorePoolQuery = () => {
      pool.query = origPoolQuery as unknown as Pool['query'];
    };
    pool.on('error', this.#onIdleError);
    pool.on('remove', this.#onRemove);
  }

  readonly #restorePoolQuery: () => void;

  /** The pg pool underneath (instrumented in place). */
  get pool(): Pool {
    return this.#pool;
  }

  /** The per-fingerprint statistics, if kept. */
  get stats(): QueryStats | undefined {
    return this.#stats;
  }

  /** Wait-for-connection histogram, in microseconds. */
  get acquireWaitHistogram(): Histogram {
    return this.#acquireWait;
  }

  /** Same as the pool's `query`: `text` with `$n` parameters. */
  query<Row extends Record<string, unknown> = Record<string, unknown>>(
    text: string,
    params?: unknown[],
  ): Promise<QueryResult<Row>> {
    return this.#pool.query<Row>(text, params);
  }

  /**
   * A client for several statements; call `release()` when done. `signal` gives up the wait
   * (a connection that frees up later goes straight back to the pool).
   * @throws {@link PoolTimeoutError} `HP_ERR_DB_POOL_TIMEOUT` when none frees up in time.
   * @throws {@link AbortedError} `HP_ERR_ABORTED` when `signal` aborts first.
   */
  connect(signal?: AbortSignal): Promise<PoolClient> {
    if (signal === undefined) return this.#pool.connect();
    return new Promise<PoolClient>((resolve, reject) =>
      this.#acquire(
        true,
        (error, client) =>
          error !== undefined || client === undefined ? reject(error) : resolve(client),
        signal,
      ),
    );
  }

  /** The pool's state and counters. Resets the saturation window. */
  metrics(): PoolMetrics {
    const pool = this.#pool;
    const now = this.#clock.now();
    const elapsed = now - this.#lastSaturationAt;
    const saturation = elapsed > 0 ? (this.#waitedMs - this.#lastWaitedMs) / elapsed : 0;
    this.#lastSaturationAt = now;
    this.#lastWaitedMs = this.#waitedMs;
    const h = this.#acquireWait;
    const empty = h.count === 0;
    return {
      total: pool.totalCount,
      idle: pool.idleCount,
      inUse: pool.totalCount - pool.idleCount,
      waiting: pool.waitingCount,
      max: pool.options.max ?? 10,
      acquires: this.#acquires,
      acquireTimeouts: this.#acquireTimeouts,
      acquireErrors: this.#acquireErrors,
      queryErrors: this.#queryErrors,
      idleErrors: this.#idleErrors,
      acquireWaitMs: {
        count: h.count,
        mean: empty ? 0 : h.mean / 1000,
        p50: empty ? 0 : h.percentile(50) / 1000,
        p99: empty ? 0 : h.percentile(99) / 1000,
        max: empty ? 0 : h.max / 1000,
      },
      saturation,
      leaked: this.#leaks.count(),
    };
  }

  /**
   * Reports clients checked out longer than `leakDetectionMs` (each once), with the stack that
   * acquired them. Runs on a timer; call it to check now.
   */
  checkLeaks(): LeakReport[] {
    return this.#leaks.check();
  }

  /**
   * Removes the instrumentation (the pool keeps working, unmeasured) and waits for slow-query
   * EXPLAINs in flight; ends the pool when {@link createPool} made it.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#leaks.close();
    await this.#observer.flush();
    const pool = this.#pool;
    pool.connect = this.#origConnect;
    this.#restorePoolQuery();
    for (const [client, query] of this.#origQueries) client.query = query as PoolClient['query'];
    this.#origQueries.clear();
    pool.off('error', this.#onIdleError);
    pool.off('remove', this.#onRemove);
    delete (pool as unknown as Record<symbol, unknown>)[INSTRUMENTED];
    if (this.#ownsPool) await pool.end();
  }

  #acquire(track: boolean, callback: AcquireCallback, signal?: AbortSignal): void {
    if (signal?.aborted === true) {
      callback(
        new AbortedError('gave up waiting for a database connection', { cause: signal.reason }),
      );
      return;
    }
    const start = this.#clock.now();
    const site = track && this.#leakMs > 0 ? new Error('client acquired here') : undefined;
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    // With a client idle for every waiter, pg hands one out on the next tick: no deadline
    // timer needed (one setTimeout per query is measurable: bench/db/instrumentation.bench.ts).
    const pool = this.#pool;
    if (this.#acquireTimeoutMs > 0 && pool.idleCount <= pool.waitingCount) {
      timer = setTimeout(() => {
        settled = true;
        this.#acquireTimeouts++;
        this.#waitedMs += this.#clock.now() - start;
        callback(this.#timeoutError());
      }, this.#acquireTimeoutMs);
      timer.unref();
    }
    const onAbort = (): void => {
      if (settled) return;
      settled = true;
      if (timer !== undefined) clearTimeout(timer);
      this.#waitedMs += this.#clock.now() - start;
      callback(
        new AbortedError('gave up waiting for a database connection', { cause: signal?.reason }),
      );
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    this.#origConnect.call(pool, (error: Error | undefined, client?: PoolClient) => {
      signal?.removeEventListener('abort', onAbort);
      if (settled) {
        // the caller gave up: hand the late connection straight back
        if (error === undefined && client !== undefined) client.release();
        return;
      }
      settled = true;
      if (timer !== undefined) clearTimeout(timer);
      const waitMs = this.#clock.now() - start;
      this.#waitedMs += waitMs;
      this.#acquireWait.record(waitMs * 1000);
      if (dbChannels.acquire.hasSubscribers) dbChannels.acquire.publish({ waitMs, error });
      if (error !== undefined || client === undefined) {
        this.#acquireErrors++;
        callback(error ?? new Error('pg returned no client'));
        return;
      }
      this.#acquires++;
      this.#patchClient(client);
      if (site !== undefined) {
        this.#leaks.track(client, site);
        const release = client.release;
        client.release = (err?: Error | boolean) => {
          this.#leaks.release(client);
          client.release = release;
          return release.call(client, err);
        };
      }
      callback(undefined, client, client.release);
    });
  }

  #timeoutError(): PoolTimeoutError {
    const pool = this.#pool;
    const oldest = this.#leaks.oldest();
    const holder =
      oldest === undefined
        ? ''
        : `; the longest-held client (${Math.round(oldest.heldMs)} ms) was acquired at ${oldest.site}`;
    return new PoolTimeoutError(
      this.#acquireTimeoutMs,
      `no database connection free after ${this.#acquireTimeoutMs} ms: pool max ${pool.options.max ?? 10}, ${pool.totalCount - pool.idleCount} in use, ${pool.waitingCount} waiting${holder}. Raise max, shorten transactions or look for clients never released.`,
    );
  }

  #patchClient(client: PoolClient): void {
    if (this.#origQueries.has(client)) return;
    const orig = client.query as unknown as QueryFn;
    this.#origQueries.set(client, orig);
    client.query = ((config: unknown, values?: unknown, callback?: unknown): unknown =>
      this.#run(client, orig, config, values, callback)) as PoolClient['query'];
  }

  #run(
    client: PoolClient,
    orig: QueryFn,
    config: unknown,
    values: unknown,
    callback: unknown,
  ): unknown {
    // Submittables (cursors, COPY streams) and anything unusual go straight to pg.
    if (
      typeof config !== 'string' &&
      (config === null ||
        typeof config !== 'object' ||
        typeof (config as { submit?: unknown }).submit === 'function')
    ) {
      return orig.call(client, config, values, callback);
    }
    if (typeof values === 'function') {
      callback = values;
      values = undefined;
    }
    const text = typeof config === 'string' ? config : ((config as { text?: string }).text ?? '');
    if (text.startsWith(INTERNAL_SQL)) return orig.call(client, config, values, callback);
    const params = (values ?? (config as { values?: unknown[] }).values) as unknown[] | undefined;
    const marked =
      typeof config === 'object'
        ? (config as Record<symbol, QueryShape | undefined>)[OBSERVED]
        : undefined;
    const shape = marked ?? this.#observer.shape(text);
    const cb = typeof callback === 'function' ? (callback as Callback) : undefined;
    if (marked === undefined) {
      try {
        this.#observer.before(shape);
      } catch (error) {
        if (cb !== undefined) {
          process.nextTick(cb, error);
          return undefined;
        }
        return Promise.reject(error);
      }
    }
    let sent: unknown = config;
    if (
      this.#prepare &&
      (marked !== undefined || typeof config === 'string') &&
      params !== undefined &&
      params.length > 0
    ) {
      sent = { name: shape.statement, text, values: params };
    } else if (marked !== undefined) {
      sent = text;
    }
    const start = performance.now();
    if (cb !== undefined) {
      // pg-pool's query() passes a callback: stay callback-style, no promise in between
      const done = (error: Error | undefined, result?: QueryResult | QueryResult[]): void => {
        const ms = performance.now() - start;
        if (error) {
          this.#queryErrors++;
          this.#observer.after(shape, text, params, ms, 0, error);
        } else this.#observer.after(shape, text, params, ms, rowsOf(result!), undefined);
        cb(error, result);
      };
      if (sent === config) orig.call(client, config, values, done);
      else if (sent === text) orig.call(client, text, params, done);
      else orig.call(client, sent, done);
      return undefined;
    }
    const promise = (
      sent === config
        ? orig.call(client, config, values)
        : sent === text
          ? orig.call(client, text, params)
          : orig.call(client, sent)
    ) as Promise<QueryResult | QueryResult[]>;
    return promise.then(
      (result) => {
        this.#observer.after(
          shape,
          text,
          params,
          performance.now() - start,
          rowsOf(result),
          undefined,
        );
        return result;
      },
      (error: unknown) => {
        this.#queryErrors++;
        this.#observer.after(shape, text, params, performance.now() - start, 0, error);
        throw error;
      },
    );
  }
}

const INSTRUMENTED = Symbol.for('hotpath.db.instrumented');
// marks a query pg-pool forwards after the N+1 detector already counted it
const OBSERVED = Symbol('hotpath.db.observed');

function rowsOf(result: QueryResult | QueryResult[]): number {
  if (Array.isArray(result)) return result.reduce((sum, r) => sum + rowsOf(r), 0);
  return result.rowCount ?? result.rows?.length ?? 0;
}

/**
 * Instruments an existing pg pool in place (see {@link InstrumentedPool}); `close()` removes
 * the instrumentation and leaves the pool open.
 * @throws {@link InvalidOptionError} `HP_ERR_INVALID_OPTION` on a bad option or a pool already
 *   instrumented.
 * @example
 * const db = instrumentPool(pool, { acquireTimeoutMs: 2000 });
 * db.metrics(); // { total, idle, inUse, waiting, acquireWaitMs, saturation, ... }
 * db.stats?.top(10);
 */
export function instrumentPool(pool: Pool, options: InstrumentPoolOptions = {}): InstrumentedPool {
  return new InstrumentedPool(pool, options, false);
}

/**
 * Creates a pg pool and instruments it; `close()` ends the pool. Async because `pg` is an
 * optional peer dependency, loaded on first use.
 * @example
 * const db = await createPool({ connectionString: process.env.DATABASE_URL, max: 20 });
 * const { rows } = await db.query('SELECT * FROM payments WHERE id = $1', [id]);
 * await db.close();
 */
export async function createPool(options: CreatePoolOptions = {}): Promise<InstrumentedPool> {
  const max = checkNumber('max', options.max ?? 10, { min: 1, integer: true });
  const idleTimeoutMillis = checkNumber('idleTimeoutMillis', options.idleTimeoutMillis ?? 30_000, {
    min: 0,
  });
  const { default: pg } = await import('pg');
  const pool = new pg.Pool({
    ...options.pg,
    ...(options.connectionString !== undefined
      ? { connectionString: options.connectionString }
      : {}),
    max,
    idleTimeoutMillis,
  });
  try {
    return new InstrumentedPool(pool, options, true);
  } catch (error) {
    await pool.end();
    throw error;
  }
}
