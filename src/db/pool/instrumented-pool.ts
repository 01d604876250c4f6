import type { Pool, PoolClient, PoolConfig, QueryResult } from 'pg';
import { InvalidOptionError } from '../../errors/index.js';
import { monotonicClock, type Clock } from '../../internal/clock.js';
import { checkNumber } from '../../internal/validate-options.js';
import type { Histogram } from '../../metrics/index.js';
import { endPool } from './end-pool.js';
import type { NPlusOneDetector } from '../instrument/n-plus-one.js';
import { LeakDetector, type LeakReport } from '../instrument/leak-detector.js';
import { ConnectionAcquirer } from './pool-acquire.js';
import { PoolCounters, type PoolMetrics } from './pool-metrics.js';
import { QueryRunner, measuredText } from './pool-query.js';
import { QueryObserver } from '../instrument/query-observer.js';
import { QueryStats } from '../instrument/query-stats.js';
import type { SlowQueryLog } from '../instrument/slow-query-log.js';

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
  /**
   * Milliseconds for acquire waits, query timings and leak ages (tests drive it by hand).
   * @defaultValue `performance.now()`
   */
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

type QueryFn = (...args: unknown[]) => unknown;
type ConnectCallback = (error: Error | undefined, client?: PoolClient, done?: unknown) => void;

/**
 * A pg `Pool` with metrics, an acquire deadline, a leak detector and per-query hooks (timing,
 * fingerprint statistics, slow-query log, N+1 detection, named statements). It instruments the
 * pool in place, at the driver layer: code already holding the pool, an ORM or a
 * {@link PostgresDatabase}, is measured too. Use {@link createPool} or {@link instrumentPool}.
 */
export class InstrumentedPool {
  readonly #pool: Pool;
  readonly #ownsPool: boolean;
  readonly #stats: QueryStats | undefined;
  readonly #observer: QueryObserver;
  readonly #counters: PoolCounters;
  readonly #leaks: LeakDetector<PoolClient>;
  readonly #acquirer: ConnectionAcquirer;
  readonly #runner: QueryRunner;
  readonly #origConnect: Pool['connect'];
  readonly #origPoolQuery: QueryFn;
  readonly #origQueries = new Map<PoolClient, QueryFn>();
  #inPoolQuery = false;
  #closed = false;
  readonly #onIdleError = (): void => {
    this.#counters.idleErrors++;
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
    const acquireTimeoutMs = checkNumber('acquireTimeoutMs', options.acquireTimeoutMs ?? 5000, {
      min: 0,
    });
    const leakMs = checkNumber('leakDetectionMs', options.leakDetectionMs ?? 30_000, { min: 0 });
    const clock = options.clock ?? monotonicClock;
    this.#stats = options.stats === false ? undefined : (options.stats ?? new QueryStats());
    this.#observer = new QueryObserver({
      stats: this.#stats,
      slowQueries: options.slowQueries,
      nPlusOne: options.nPlusOne,
    });
    this.#counters = new PoolCounters(clock);
    this.#leaks = new LeakDetector<PoolClient>(leakMs, clock, options.onLeak);
    this.#pool = pool;
    this.#ownsPool = ownsPool;
    this.#origConnect = pool.connect;
    this.#origPoolQuery = pool.query as unknown as QueryFn;
    this.#acquirer = new ConnectionAcquirer({
      pool,
      connect: this.#origConnect,
      clock,
      acquireTimeoutMs,
      counters: this.#counters,
      leaks: this.#leaks,
      onClient: (client) => this.#patchClient(client),
    });
    this.#runner = new QueryRunner({
      observer: this.#observer,
      prepare: options.prepare ?? true,
      counters: this.#counters,
      clock,
      acquirer: this.#acquirer,
      originalQuery: (client) => this.#origQueries.get(client)!,
    });

    (pool as unknown as Record<symbol, unknown>)[INSTRUMENTED] = true;
    // pg-pool's own query() (still used for what hotpath does not measure) calls
    // this.connect(callback) synchronously: #inPoolQuery tells such short checkouts (released
    // by pg itself) from application ones, which get a stack for the leak detector.
    pool.connect = ((callback?: unknown): Promise<PoolClient> | undefined => {
      const track = !this.#inPoolQuery;
      if (typeof callback === 'function') {
        this.#acquirer.acquire(track, (error, client) =>
          (callback as ConnectCallback)(error, client, client?.release),
        );
        return undefined;
      }
      return new Promise<PoolClient>((resolve, reject) =>
        this.#acquirer.acquire(track, (error, client) =>
          error !== undefined || client === undefined ? reject(error) : resolve(client),
        ),
      );
    }) as Pool['connect'];
    pool.query = ((config: unknown, values?: unknown, callback?: unknown): unknown => {
      const text = measuredText(config);
      if (text !== undefined) return this.#runner.onPool(text, config, values, callback);
      this.#inPoolQuery = true;
      try {
        return this.#origPoolQuery.call(pool, config, values, callback);
      } finally {
        this.#inPoolQuery = false;
      }
    }) as Pool['query'];
    pool.on('error', this.#onIdleError);
    pool.on('remove', this.#onRemove);
  }

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
    return this.#counters.acquireWait;
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
      this.#acquirer.acquire(
        true,
        (error, client) =>
          error !== undefined || client === undefined ? reject(error) : resolve(client),
        signal,
      ),
    );
  }

  /** The pool's state and counters. Resets the saturation window. */
  metrics(): PoolMetrics {
    return this.#counters.snapshot(this.#pool, this.#leaks.count());
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
    pool.query = this.#origPoolQuery as unknown as Pool['query'];
    for (const [client, query] of this.#origQueries) client.query = query as PoolClient['query'];
    this.#origQueries.clear();
    pool.off('error', this.#onIdleError);
    pool.off('remove', this.#onRemove);
    delete (pool as unknown as Record<symbol, unknown>)[INSTRUMENTED];
    if (this.#ownsPool) await endPool(pool);
  }

  #patchClient(client: PoolClient): void {
    if (this.#origQueries.has(client)) return;
    const original = client.query as unknown as QueryFn;
    this.#origQueries.set(client, original);
    const runner = this.#runner;
    client.query = ((config: unknown, values?: unknown, callback?: unknown): unknown =>
      runner.onClient(client, original, config, values, callback)) as PoolClient['query'];
  }
}

const INSTRUMENTED = Symbol.for('hotpath.db.instrumented');

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
    await endPool(pool);
    throw error;
  }
}
