import type { PoolClient, QueryResult } from 'pg';
import type { Clock } from '../../internal/clock.js';
import type { ConnectionAcquirer } from './pool-acquire.js';
import type { PoolCounters } from './pool-metrics.js';
import type { QueryObserver, QueryShape } from '../instrument/query-observer.js';
import { INTERNAL_SQL } from '../client/sql-client.js';

/** A pg `query` method, called with `this` bound to its client or pool. */
export type QueryFn = (...args: unknown[]) => unknown;
type Callback = (error: Error | null | undefined, result?: unknown) => void;

/**
 * The SQL text of a `query()` call hotpath measures: a string, or a config object with a
 * `text`. Undefined for submittables (cursors, COPY streams), anything unusual and hotpath's
 * own diagnostic statements, which go to pg untouched.
 */
export function measuredText(config: unknown): string | undefined {
  let text: unknown = config;
  if (typeof config === 'object' && config !== null) {
    if (typeof (config as { submit?: unknown }).submit === 'function') return undefined;
    text = (config as { text?: unknown }).text;
  }
  return typeof text === 'string' && !text.startsWith(INTERNAL_SQL) ? text : undefined;
}

/** What {@link QueryRunner} needs from the instrumented pool. */
export interface QueryRunnerOptions {
  observer: QueryObserver;
  /** Send parameterized text queries as named statements. */
  prepare: boolean;
  counters: PoolCounters;
  clock: Clock;
  acquirer: ConnectionAcquirer;
  /** The client's `query` before instrumentation. */
  originalQuery: (client: PoolClient) => QueryFn;
}

/**
 * The per-query work of an instrumented pool, on its two entry points: `pool.query()` (check a
 * client out, run, release: pg-pool's own `query` done once, with the measure inside) and
 * `client.query()` on a client the application holds.
 *
 * The hot path is kept lean (bench/db/instrumentation.bench.ts): the text's shape is one map
 * lookup, the N+1 detector (an AsyncLocalStorage read) runs only when attached, the clock is
 * read three times per pooled query (acquire start, hand-over = query start, end), and no
 * callback is wrapped twice. Closures are passed inline rather than bound to names: esbuild's
 * `keepNames`, which tsx uses, adds an `Object.defineProperty` call to every named closure
 * created.
 */
export class QueryRunner {
  readonly #observer: QueryObserver;
  readonly #prepare: boolean;
  readonly #counters: PoolCounters;
  readonly #clock: Clock;
  readonly #acquirer: ConnectionAcquirer;
  readonly #originalQuery: (client: PoolClient) => QueryFn;

  constructor(options: QueryRunnerOptions) {
    this.#observer = options.observer;
    this.#prepare = options.prepare;
    this.#counters = options.counters;
    this.#clock = options.clock;
    this.#acquirer = options.acquirer;
    this.#originalQuery = options.originalQuery;
  }

  /**
   * `pool.query(config, values?, callback?)` for a measured `text` (see {@link measuredText}):
   * checks a client out, runs the query, releases the client. A promise without callback.
   */
  onPool(text: string, config: unknown, values: unknown, callback: unknown): unknown {
    if (typeof values === 'function') {
      callback = values;
      values = undefined;
    }
    const query = this.#prepareQuery(text, config, values);
    if (typeof callback === 'function') {
      if (query instanceof Error) process.nextTick(callback as Callback, query);
      else this.#checkout(query, callback as Callback);
      return undefined;
    }
    if (query instanceof Error) return Promise.reject(query);
    return new Promise((resolve, reject) =>
      this.#checkout(query, (error, result) => (error ? reject(error) : resolve(result))),
    );
  }

  /** `client.query(config, values?, callback?)` on a client checked out of the pool. */
  onClient(
    client: PoolClient,
    original: QueryFn,
    config: unknown,
    values: unknown,
    callback: unknown,
  ): unknown {
    const text = measuredText(config);
    if (text === undefined) return original.call(client, config, values, callback);
    if (typeof values === 'function') {
      callback = values;
      values = undefined;
    }
    const query = this.#prepareQuery(text, config, values);
    if (query instanceof Error) {
      if (typeof callback !== 'function') return Promise.reject(query);
      process.nextTick(callback as Callback, query);
      return undefined;
    }
    const start = this.#clock.now();
    if (typeof callback === 'function') {
      original.call(client, query.message, query.values, (error: Error | null, result: unknown) => {
        this.record(query, start, error, result);
        (callback as Callback)(error, result);
      });
      return undefined;
    }
    return (original.call(client, query.message, query.values) as Promise<unknown>).then(
      (result) => {
        this.record(query, start, undefined, result);
        return result;
      },
      (error: unknown) => {
        this.record(query, start, error, undefined);
        throw error;
      },
    );
  }

  /**
   * The query's shape and what to send pg; counts it for N+1 now, while the caller's frames
   * are on the stack. Returns the strict N+1 error instead of throwing it.
   */
  #prepareQuery(text: string, config: unknown, values: unknown): PendingQuery | Error {
    const observer = this.#observer;
    const shape = observer.shape(text);
    if (observer.detectsNPlusOne) {
      try {
        observer.before(shape);
      } catch (error) {
        return error as Error;
      }
    }
    if (typeof config !== 'string') {
      const params = (values ?? (config as { values?: unknown }).values) as unknown[] | undefined;
      return { shape, text, params, message: config, values };
    }
    const params = values as unknown[] | undefined;
    if (this.#prepare && params !== undefined && params.length > 0) {
      return {
        shape,
        text,
        params,
        message: { name: shape.statement, text, values: params },
        values: undefined,
      };
    }
    return { shape, text, params, message: text, values: params };
  }

  /** pg-pool's `query`: check out, run with an error listener on the client, release. */
  #checkout(query: PendingQuery, done: Callback): void {
    this.#acquirer.acquire(false, (error, client, at) => {
      if (error !== undefined || client === undefined) {
        done(error);
        return;
      }
      new PooledRun(this, query, client, at!, done).run(this.#originalQuery(client));
    });
  }

  /** Records a finished query: error count, statistics, slow-query log, channel. */
  record(query: PendingQuery, start: number, error: unknown, result: unknown): void {
    const ms = this.#clock.now() - start;
    if (error) {
      this.#counters.queryErrors++;
      this.#observer.after(query.shape, query.text, query.params, ms, 0, error);
    } else {
      const rows = rowsOf(result as QueryResult | QueryResult[]);
      this.#observer.after(query.shape, query.text, query.params, ms, rows, undefined);
    }
  }
}

/** A query ready to send: its shape for the observer, and pg's `query(message, values)`. */
interface PendingQuery {
  shape: QueryShape;
  text: string;
  params: unknown[] | undefined;
  message: unknown;
  values: unknown;
}

/** One `pool.query()` on the client it checked out, until the client goes back. */
class PooledRun {
  readonly #runner: QueryRunner;
  readonly #query: PendingQuery;
  readonly #client: PoolClient;
  readonly #start: number;
  readonly #done: Callback;
  readonly #onClientError: (error: Error) => void;
  #released = false;

  constructor(
    runner: QueryRunner,
    query: PendingQuery,
    client: PoolClient,
    start: number,
    done: Callback,
  ) {
    this.#runner = runner;
    this.#query = query;
    this.#client = client;
    this.#start = start;
    this.#done = done;
    // as pg-pool does: a connection error during the query releases the client with it
    this.#onClientError = (error) => this.#end(error, undefined);
  }

  run(original: QueryFn): void {
    const client = this.#client;
    client.on('error', this.#onClientError);
    try {
      original.call(
        client,
        this.#query.message,
        this.#query.values,
        (error: Error | null, result: unknown) => {
          client.removeListener('error', this.#onClientError);
          this.#end(error, result);
        },
      );
    } catch (error) {
      client.removeListener('error', this.#onClientError);
      this.#end(error as Error, undefined);
    }
  }

  #end(error: Error | null, result: unknown): void {
    if (this.#released) return;
    this.#released = true;
    this.#client.release(error ?? undefined);
    this.#runner.record(this.#query, this.#start, error, result);
    if (error) this.#done(error);
    else this.#done(undefined, result);
  }
}

function rowsOf(result: QueryResult | QueryResult[]): number {
  if (Array.isArray(result)) return result.reduce((sum, r) => sum + rowsOf(r), 0);
  return result.rowCount ?? result.rows?.length ?? 0;
}
