import { InvalidOptionError } from '../../errors/index.js';
import { monotonicClock, type Clock } from '../../internal/clock.js';
import { checkNumber } from '../../internal/validate-options.js';
import { dbChannels } from './channels.js';
import { explainQuery, isReadOnly, type QueryPlan } from '../advise/explain.js';
import type { Fingerprint } from './fingerprint.js';
import type { IndexAdvice, IndexAdvisor } from '../advise/index-advisor.js';
import type { SqlClient, SqlPool } from '../client/sql-client.js';

/** Options of {@link SlowQueryLog}. */
export interface SlowQueryLogOptions {
  /**
   * Where EXPLAIN runs: the pool the queries go to (an instrumented one is fine), or anything
   * with `query()` such as a {@link Database}; `EXPLAIN ANALYZE` and index advice need
   * `connect()` (a pg pool).
   */
  pool: SqlPool | SqlClient;
  /**
   * Queries taking at least this long are slow, in milliseconds.
   * @defaultValue 200
   */
  thresholdMs?: number;
  /**
   * Each fingerprint is logged (and explained) at most once per this interval, in milliseconds.
   * @defaultValue 60000
   */
  intervalMs?: number;
  /**
   * `false`: no plan, `'plan'`: `EXPLAIN` (no execution), `'analyze'`: `EXPLAIN ANALYZE` for
   * read-only statements inside a rolled-back transaction, plain `EXPLAIN` for the others.
   * @defaultValue 'plan'
   */
  explain?: false | 'plan' | 'analyze';
  /** Index advice for each slow query's plan; none by default. */
  advisor?: IndexAdvisor;
  /**
   * Entries kept for {@link SlowQueryLog.entries}, newest last.
   * @defaultValue 100
   */
  maxEntries?: number;
  /** Called with each entry once its plan (and advice) are in. */
  onSlowQuery?: (entry: SlowQueryEntry) => void;
  clock?: Clock;
}

/** One logged slow query. */
export interface SlowQueryEntry {
  fingerprintId: string;
  /** The normalized query. */
  query: string;
  /** The text as sent (parameters are not kept: they may hold personal data). */
  text: string;
  durationMs: number;
  /** Wall-clock time of the log, ms since the epoch. */
  at: number;
  /** Slow runs of this fingerprint skipped since its previous entry (rate limiting). */
  suppressed: number;
  plan: QueryPlan | undefined;
  /** Why there is no plan, when EXPLAIN failed. */
  planError: string | undefined;
  advice: IndexAdvice[];
}

/**
 * Logs queries slower than a threshold, once per fingerprint per interval, with their plan.
 * {@link SlowQueryLog.consider} is called by an instrumented pool after every query; the EXPLAIN
 * runs in the background on the pool and the entry is delivered to `onSlowQuery`, the
 * `hotpath:db:slow-query` channel and {@link SlowQueryLog.entries}.
 */
export class SlowQueryLog {
  readonly #pool: SqlPool | SqlClient;
  readonly #thresholdMs: number;
  readonly #intervalMs: number;
  readonly #explain: false | 'plan' | 'analyze';
  readonly #advisor: IndexAdvisor | undefined;
  readonly #maxEntries: number;
  readonly #onSlowQuery: ((entry: SlowQueryEntry) => void) | undefined;
  readonly #clock: Clock;
  readonly #last = new Map<string, { at: number; suppressed: number }>();
  readonly #entries: SlowQueryEntry[] = [];
  readonly #pending = new Set<Promise<void>>();
  #closed = false;

  /** @throws {@link InvalidOptionError} `HP_ERR_INVALID_OPTION` on a bad option. */
  constructor(options: SlowQueryLogOptions) {
    if (typeof options?.pool?.query !== 'function') {
      throw new InvalidOptionError('pool', 'expected a pool with query() and connect()');
    }
    this.#pool = options.pool;
    this.#thresholdMs = checkNumber('thresholdMs', options.thresholdMs ?? 200, { min: 0 });
    this.#intervalMs = checkNumber('intervalMs', options.intervalMs ?? 60_000, { min: 0 });
    const explain = options.explain ?? 'plan';
    if (explain !== false && explain !== 'plan' && explain !== 'analyze') {
      throw new InvalidOptionError('explain', 'expected false, "plan" or "analyze"');
    }
    this.#explain = explain;
    this.#advisor = options.advisor;
    this.#maxEntries = checkNumber('maxEntries', options.maxEntries ?? 100, {
      min: 1,
      integer: true,
    });
    this.#onSlowQuery = options.onSlowQuery;
    this.#clock = options.clock ?? monotonicClock;
  }

  /** The threshold in milliseconds. */
  get thresholdMs(): number {
    return this.#thresholdMs;
  }

  /**
   * Looks at one finished query; logs it when slow and its fingerprint was not logged within
   * the interval. Returns at once: the plan is fetched in the background.
   */
  consider(fp: Fingerprint, text: string, params: unknown[] | undefined, durationMs: number): void {
    if (durationMs < this.#thresholdMs || this.#closed) return;
    const now = this.#clock.now();
    const last = this.#last.get(fp.id);
    if (last !== undefined && now - last.at < this.#intervalMs) {
      last.suppressed++;
      return;
    }
    const suppressed = last?.suppressed ?? 0;
    this.#last.set(fp.id, { at: now, suppressed: 0 });
    const task = this.#log(fp, text, params, durationMs, suppressed);
    this.#pending.add(task);
    void task.finally(() => this.#pending.delete(task));
  }

  /** The latest entries, oldest first. */
  entries(): readonly SlowQueryEntry[] {
    return this.#entries;
  }

  /** Resolves when every EXPLAIN started so far has finished. */
  async flush(): Promise<void> {
    while (this.#pending.size > 0) await Promise.all([...this.#pending]);
  }

  /** Stops logging and waits for the EXPLAINs in flight. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.flush();
  }

  async #log(
    fp: Fingerprint,
    text: string,
    params: unknown[] | undefined,
    durationMs: number,
    suppressed: number,
  ): Promise<void> {
    let plan: QueryPlan | undefined;
    let planError: string | undefined;
    let advice: IndexAdvice[] = [];
    if (this.#explain !== false) {
      try {
        const analyze =
          this.#explain === 'analyze' && isReadOnly(fp.normalized) && 'connect' in this.#pool;
        plan = await explainQuery(this.#pool, text, params, { analyze });
        if (this.#advisor !== undefined && 'connect' in this.#pool) {
          advice = await this.#advisor.advise(this.#pool, text, params, { plan });
        }
      } catch (error) {
        planError = (error as Error).message;
      }
    }
    const entry: SlowQueryEntry = {
      fingerprintId: fp.id,
      query: fp.normalized,
      text,
      durationMs,
      at: Date.now(),
      suppressed,
      plan,
      planError,
      advice,
    };
    this.#entries.push(entry);
    if (this.#entries.length > this.#maxEntries) this.#entries.shift();
    if (dbChannels.slowQuery.hasSubscribers) dbChannels.slowQuery.publish(entry);
    this.#onSlowQuery?.(entry);
  }
}
