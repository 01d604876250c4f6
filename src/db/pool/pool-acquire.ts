import type { Pool, PoolClient } from 'pg';
import { AbortedError } from '../../errors/index.js';
import type { Clock } from '../../internal/clock.js';
import { dbChannels } from '../instrument/channels.js';
import type { LeakDetector } from '../instrument/leak-detector.js';
import type { PoolCounters } from './pool-metrics.js';
import { PoolTimeoutError } from '../errors.js';

/**
 * Called with the client, or the error that kept the caller from getting one, and the clock
 * reading taken when it was handed over (a query reuses it as its start time).
 */
export type AcquireCallback = (error: Error | undefined, client?: PoolClient, at?: number) => void;

/** What {@link ConnectionAcquirer} needs from the instrumented pool. */
export interface AcquirerOptions {
  pool: Pool;
  /** pg-pool's own `connect`, before instrumentation. */
  connect: Pool['connect'];
  clock: Clock;
  /** 0: wait forever. */
  acquireTimeoutMs: number;
  counters: PoolCounters;
  leaks: LeakDetector<PoolClient>;
  /** Called with every client handed out, before the caller gets it (patches its `query`). */
  onClient: (client: PoolClient) => void;
}

/**
 * Checks a client out of a pg pool with a deadline, an optional `AbortSignal`, the wait timed
 * into {@link PoolCounters} and, for application checkouts, the acquiring stack remembered for
 * the leak detector.
 */
export class ConnectionAcquirer {
  readonly #pool: Pool;
  readonly #connect: Pool['connect'];
  readonly #clock: Clock;
  readonly #timeoutMs: number;
  readonly #counters: PoolCounters;
  readonly #leaks: LeakDetector<PoolClient>;
  readonly #onClient: (client: PoolClient) => void;

  constructor(options: AcquirerOptions) {
    this.#pool = options.pool;
    this.#connect = options.connect;
    this.#clock = options.clock;
    this.#timeoutMs = options.acquireTimeoutMs;
    this.#counters = options.counters;
    this.#leaks = options.leaks;
    this.#onClient = options.onClient;
  }

  /**
   * Hands `callback` a client. `track` remembers the caller's stack for the leak detector (an
   * application checkout that must be released); a query's own short checkout passes false.
   */
  acquire(track: boolean, callback: AcquireCallback, signal?: AbortSignal): void {
    if (signal?.aborted === true) {
      callback(abortError(signal));
      return;
    }
    const clock = this.#clock;
    const start = clock.now();
    // The Error is made here, where the caller's frames are on the stack; V8 formats the stack
    // only if a leak is reported.
    const site = track && this.#leaks.enabled ? new Error('client acquired here') : undefined;
    const pool = this.#pool;
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    // With a client idle for every waiter, pg hands one out on the next tick: no deadline
    // timer needed (one setTimeout per query is measurable: bench/db/instrumentation.bench.ts).
    if (this.#timeoutMs > 0 && pool.idleCount <= pool.waitingCount) {
      timer = setTimeout(() => {
        settled = true;
        this.#counters.acquireTimeouts++;
        this.#counters.waitedMs += clock.now() - start;
        callback(this.#timeoutError());
      }, this.#timeoutMs);
      timer.unref();
    }
    let onAbort: (() => void) | undefined;
    if (signal !== undefined) {
      onAbort = () => {
        if (settled) return;
        settled = true;
        if (timer !== undefined) clearTimeout(timer);
        this.#counters.waitedMs += clock.now() - start;
        callback(abortError(signal));
      };
      signal.addEventListener('abort', onAbort, { once: true });
    }
    this.#connect.call(pool, (error: Error | undefined, client?: PoolClient) => {
      if (onAbort !== undefined) signal!.removeEventListener('abort', onAbort);
      if (settled) {
        // the caller gave up: hand the late connection straight back
        if (error === undefined && client !== undefined) client.release();
        return;
      }
      settled = true;
      if (timer !== undefined) clearTimeout(timer);
      const at = clock.now();
      const waitMs = at - start;
      this.#counters.recordWait(waitMs);
      if (dbChannels.acquire.hasSubscribers) dbChannels.acquire.publish({ waitMs, error });
      if (error !== undefined || client === undefined) {
        this.#counters.acquireErrors++;
        callback(error ?? new Error('pg returned no client'));
        return;
      }
      this.#counters.acquires++;
      this.#onClient(client);
      if (site !== undefined) this.#trackLeak(client, site);
      callback(undefined, client, at);
    });
  }

  #trackLeak(client: PoolClient, site: Error): void {
    const leaks = this.#leaks;
    leaks.track(client, site);
    const release = client.release;
    client.release = (err?: Error | boolean) => {
      leaks.release(client);
      client.release = release;
      return release.call(client, err);
    };
  }

  #timeoutError(): PoolTimeoutError {
    const pool = this.#pool;
    const oldest = this.#leaks.oldest();
    const holder =
      oldest === undefined
        ? ''
        : `; the longest-held client (${Math.round(oldest.heldMs)} ms) was acquired at ${oldest.site}`;
    return new PoolTimeoutError(
      this.#timeoutMs,
      `no database connection free after ${this.#timeoutMs} ms: pool max ${pool.options.max ?? 10}, ${pool.totalCount - pool.idleCount} in use, ${pool.waitingCount} waiting${holder}. Raise max, shorten transactions or look for clients never released.`,
    );
  }
}

function abortError(signal: AbortSignal): AbortedError {
  return new AbortedError('gave up waiting for a database connection', { cause: signal.reason });
}
