import { InvalidOptionError } from '../../errors/index.js';
import type { Database, QueryExecutor, QueryResult } from '../client/database.js';
import type { NPlusOneDetector } from './n-plus-one.js';
import { QueryObserver } from './query-observer.js';
import { QueryStats } from './query-stats.js';
import type { SlowQueryLog } from './slow-query-log.js';

/** Options of {@link instrumentDatabase}. */
export interface InstrumentDatabaseOptions {
  /** Per-fingerprint statistics; a new {@link QueryStats} by default, `false` for none. */
  stats?: QueryStats | false;
  /**
   * Slow-query log. Give it the database itself as `pool`: plain `EXPLAIN` works on both
   * backends; `EXPLAIN ANALYZE` and index advice need a pg pool (`connect()`).
   */
  slowQueries?: SlowQueryLog;
  /** N+1 detector fed before every query. */
  nPlusOne?: NPlusOneDetector;
}

/**
 * A {@link Database} whose queries (transactions included) are timed, fingerprinted, counted
 * for N+1 and checked for slowness. It works on either backend, embedded PGlite included,
 * because it wraps the `Database` interface instead of the pg driver; on a server, prefer
 * {@link instrumentPool} on the pg pool, which also sees pool waits and leaks.
 */
export class InstrumentedDatabase implements Database {
  readonly #db: Database;
  readonly #observer: QueryObserver;
  readonly #stats: QueryStats | undefined;

  /** @throws {@link InvalidOptionError} `HP_ERR_INVALID_OPTION` when `db` is not a Database. */
  constructor(db: Database, options: InstrumentDatabaseOptions = {}) {
    if (typeof db?.query !== 'function' || typeof db.transaction !== 'function') {
      throw new InvalidOptionError('db', 'expected a Database (query, transaction)');
    }
    this.#db = db;
    this.#stats = options.stats === false ? undefined : (options.stats ?? new QueryStats());
    this.#observer = new QueryObserver({
      stats: this.#stats,
      slowQueries: options.slowQueries,
      nPlusOne: options.nPlusOne,
    });
  }

  /** The wrapped database's backend. */
  get kind(): Database['kind'] {
    return this.#db.kind;
  }

  /** The wrapped database. */
  get inner(): Database {
    return this.#db;
  }

  /** Per-fingerprint statistics, if kept. */
  get stats(): QueryStats | undefined {
    return this.#stats;
  }

  query<Row = Record<string, unknown>>(
    text: string,
    params?: readonly unknown[],
  ): Promise<QueryResult<Row>> {
    return this.#run(this.#db, text, params);
  }

  transaction<T>(fn: (tx: QueryExecutor) => Promise<T>): Promise<T> {
    return this.#db.transaction((tx) =>
      fn({ query: (text, params) => this.#run(tx, text, params) }),
    );
  }

  ping(timeoutMs?: number): Promise<void> {
    return this.#db.ping(timeoutMs);
  }

  /** Waits for slow-query EXPLAINs in flight, then closes the wrapped database. */
  async close(): Promise<void> {
    await this.#observer.flush();
    await this.#db.close();
  }

  // Not an async function: one promise (the query's) and two inline reactions per query.
  #run<Row>(
    target: QueryExecutor,
    text: string,
    params: readonly unknown[] | undefined,
  ): Promise<QueryResult<Row>> {
    const observer = this.#observer;
    const shape = observer.shape(text);
    try {
      observer.before(shape);
    } catch (error) {
      return Promise.reject(error as Error);
    }
    const start = performance.now();
    let pending: Promise<QueryResult<Row>>;
    try {
      pending = target.query<Row>(text, params);
    } catch (error) {
      observer.after(shape, text, params, performance.now() - start, 0, error);
      return Promise.reject(error as Error);
    }
    return pending.then(
      (result) => {
        observer.after(shape, text, params, performance.now() - start, result.rowCount, undefined);
        return result;
      },
      (error: unknown) => {
        observer.after(shape, text, params, performance.now() - start, 0, error);
        throw error;
      },
    );
  }
}

/**
 * Wraps a {@link Database} (server or embedded) with query statistics, the slow-query log and
 * N+1 detection; see {@link InstrumentedDatabase}.
 * @example
 * const db = instrumentDatabase(await createDatabase({ dataDir: './data' }), { nPlusOne });
 * db.stats?.top(10);
 */
export function instrumentDatabase(
  db: Database,
  options: InstrumentDatabaseOptions = {},
): InstrumentedDatabase {
  return new InstrumentedDatabase(db, options);
}
