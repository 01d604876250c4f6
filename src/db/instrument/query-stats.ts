import { Histogram } from '../../metrics/index.js';
import { checkNumber } from '../../internal/validate-options.js';
import type { Fingerprint } from './fingerprint.js';

/** Options of {@link QueryStats}. */
export interface QueryStatsOptions {
  /**
   * Most distinct fingerprints tracked; later new ones are counted under the fingerprint
   * `(other)` so memory stays bounded when literals are inlined in SQL.
   * @defaultValue 500
   */
  maxFingerprints?: number;
}

/** Per-fingerprint figures, like one row of pg_stat_statements. */
export interface QueryStatsEntry {
  fingerprintId: string;
  /** The normalized query. */
  query: string;
  calls: number;
  errors: number;
  /** Rows returned or changed, summed. */
  rows: number;
  totalMs: number;
  meanMs: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

interface Slot {
  fingerprintId: string;
  query: string;
  calls: number;
  errors: number;
  rows: number;
  totalUs: number;
  histogram: Histogram;
}

const OTHER: Fingerprint = { id: 'other', normalized: '(other)' };

/**
 * In-process pg_stat_statements: calls, errors, rows and a latency histogram per query
 * fingerprint. Recording is one map lookup and one histogram increment.
 *
 * @example
 * const stats = new QueryStats();
 * stats.record(fingerprint('SELECT 1'), 0.4, 1, false);
 * stats.top(10, 'totalMs');
 */
export class QueryStats {
  readonly #max: number;
  #slots = new Map<string, Slot>();

  /** @throws {@link InvalidOptionError} `HP_ERR_INVALID_OPTION` on a bad `maxFingerprints`. */
  constructor(options: QueryStatsOptions = {}) {
    this.#max = checkNumber('maxFingerprints', options.maxFingerprints ?? 500, {
      min: 1,
      integer: true,
    });
  }

  /** Records one execution of `fp` that took `durationMs` and returned or changed `rows`. */
  record(fp: Fingerprint, durationMs: number, rows: number, failed: boolean): void {
    let slot = this.#slots.get(fp.id);
    if (slot === undefined) {
      const key = this.#slots.size >= this.#max ? OTHER : fp;
      slot = this.#slots.get(key.id);
      if (slot === undefined) {
        slot = {
          fingerprintId: key.id,
          query: key.normalized,
          calls: 0,
          errors: 0,
          rows: 0,
          totalUs: 0,
          // microseconds, 1 us .. 10 min, 2% relative error: about 8 KiB per fingerprint
          histogram: new Histogram({ lowest: 1, highest: 6e8, precision: 0.02 }),
        };
        this.#slots.set(key.id, slot);
      }
    }
    const us = durationMs * 1000;
    slot.calls++;
    slot.totalUs += us;
    slot.rows += rows;
    if (failed) slot.errors++;
    slot.histogram.record(us);
  }

  /** Every tracked fingerprint, unordered. */
  entries(): QueryStatsEntry[] {
    return [...this.#slots.values()].map(toEntry);
  }

  /** The `n` fingerprints with the highest `by` (default: total time, as a DBA would sort). */
  top(
    n = 10,
    by: 'totalMs' | 'calls' | 'meanMs' | 'p99Ms' | 'errors' | 'rows' = 'totalMs',
  ): QueryStatsEntry[] {
    return this.entries()
      .sort((a, b) => b[by] - a[by])
      .slice(0, n);
  }

  /** The entry for one fingerprint id, if tracked. */
  get(fingerprintId: string): QueryStatsEntry | undefined {
    const slot = this.#slots.get(fingerprintId);
    return slot === undefined ? undefined : toEntry(slot);
  }

  /** Forgets everything. */
  reset(): void {
    this.#slots.clear();
  }
}

function toEntry(slot: Slot): QueryStatsEntry {
  const h = slot.histogram;
  return {
    fingerprintId: slot.fingerprintId,
    query: slot.query,
    calls: slot.calls,
    errors: slot.errors,
    rows: slot.rows,
    totalMs: slot.totalUs / 1000,
    meanMs: slot.calls === 0 ? 0 : slot.totalUs / slot.calls / 1000,
    p50Ms: h.count === 0 ? 0 : h.percentile(50) / 1000,
    p99Ms: h.count === 0 ? 0 : h.percentile(99) / 1000,
    maxMs: h.count === 0 ? 0 : h.max / 1000,
  };
}
