import { createHash } from 'node:crypto';
import { dbChannels, type QueryEvent } from './channels.js';
import { fingerprint, type Fingerprint } from './fingerprint.js';
import type { NPlusOneDetector } from './n-plus-one.js';
import type { QueryStats } from './query-stats.js';
import type { SlowQueryLog } from './slow-query-log.js';

/** A query text's fingerprint and the name it is prepared under. */
export interface QueryShape {
  fp: Fingerprint;
  /** Named after the exact text: two texts of one fingerprint are two statements to pg. */
  statement: string;
}

/** What a {@link QueryObserver} feeds. */
export interface QueryObserverOptions {
  stats?: QueryStats | undefined;
  slowQueries?: SlowQueryLog | undefined;
  nPlusOne?: NPlusOneDetector | undefined;
}

/**
 * The per-query work shared by the instrumented pg pool and the instrumented {@link Database}:
 * fingerprint (cached per text), N+1 count before the query, statistics, slow-query check and
 * the `hotpath:db:query` channel after it.
 */
export class QueryObserver {
  readonly #stats: QueryStats | undefined;
  readonly #slow: SlowQueryLog | undefined;
  readonly #nPlusOne: NPlusOneDetector | undefined;
  readonly #shapes = new Map<string, QueryShape>();

  constructor(options: QueryObserverOptions) {
    this.#stats = options.stats;
    this.#slow = options.slowQueries;
    this.#nPlusOne = options.nPlusOne;
  }

  /** Whether an N+1 detector is attached. */
  get detectsNPlusOne(): boolean {
    return this.#nPlusOne !== undefined;
  }

  /** The shape of `text`, computed once per distinct text (at most 5000 kept). */
  shape(text: string): QueryShape {
    let shape = this.#shapes.get(text);
    if (shape === undefined) {
      const statement = `hp_${createHash('sha1').update(text).digest('hex').slice(0, 20)}`;
      shape = { fp: fingerprint(text), statement };
      if (this.#shapes.size >= 5000) this.#shapes.clear();
      this.#shapes.set(text, shape);
    }
    return shape;
  }

  /**
   * Counts the query for N+1 detection; call before sending it.
   * @throws {@link NPlusOneError} in strict mode.
   */
  before(shape: QueryShape): void {
    this.#nPlusOne?.observe(shape.fp);
  }

  /** Records a finished query. */
  after(
    shape: QueryShape,
    text: string,
    params: readonly unknown[] | undefined,
    durationMs: number,
    rows: number,
    error: unknown,
  ): void {
    const fp = shape.fp;
    this.#stats?.record(fp, durationMs, rows, error !== undefined);
    if (error === undefined) this.#slow?.consider(fp, text, params as unknown[], durationMs);
    if (dbChannels.query.hasSubscribers) {
      const event: QueryEvent = {
        text,
        fingerprint: fp.normalized,
        fingerprintId: fp.id,
        durationMs,
        rows,
        error,
      };
      dbChannels.query.publish(event);
    }
  }

  /** Waits for slow-query EXPLAINs in flight. */
  async flush(): Promise<void> {
    await this.#slow?.flush();
  }
}
