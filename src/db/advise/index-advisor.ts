import { checkNumber } from '../../internal/validate-options.js';
import { explainQuery, planNodes, type PlanNode, type QueryPlan } from './explain.js';
import {
  INTERNAL_SQL,
  quoteIdent,
  throwIfAborted,
  type SqlClient,
  type SqlPool,
} from '../client/sql-client.js';

/** Options of {@link IndexAdvisor}. */
export interface IndexAdvisorOptions {
  /**
   * Tables with fewer rows (planner estimate) are never advised: a sequential scan is fine there.
   * @defaultValue 10000
   */
  minTableRows?: number;
  /**
   * A filter is selective when it keeps at most this fraction of the table's rows.
   * @defaultValue 0.05
   */
  maxSelectivity?: number;
  /**
   * With HypoPG installed, how many times cheaper the plan must get with the hypothetical index
   * before it is suggested (dexter's rule).
   * @defaultValue 10
   */
  minCostReduction?: number;
}

/** One index suggestion. Never applied: a human reads it. */
export interface IndexAdvice {
  table: string;
  columns: string[];
  /** `CREATE INDEX CONCURRENTLY ...` to run by hand. */
  statement: string;
  /** Why: the sequential scan's filter and the rows it threw away. */
  reason: string;
  /** Planner cost of the query as it is. */
  costBefore: number;
  /** Planner cost with a hypothetical index (HypoPG); undefined without HypoPG. */
  costAfter: number | undefined;
  /** True when HypoPG confirmed the cost drop of at least `minCostReduction` times. */
  confirmed: boolean;
}

interface Candidate {
  table: string;
  columns: string[];
  reason: string;
}

/**
 * Index advice from query plans: finds sequential scans with a selective filter on large tables
 * and proposes an index on the filtered columns (equality columns first, then one range column).
 * Where the HypoPG extension is installed it creates the index hypothetically, re-plans the query
 * and keeps the advice only if the cost drops at least `minCostReduction` times.
 *
 * @example
 * const advisor = new IndexAdvisor();
 * const advice = await advisor.advise(pool, 'SELECT * FROM payments WHERE user_id = $1', [7]);
 * for (const a of advice) console.log(a.statement, a.confirmed);
 */
export class IndexAdvisor {
  readonly #minTableRows: number;
  readonly #maxSelectivity: number;
  readonly #minCostReduction: number;
  #hypopg: boolean | undefined;

  /** @throws {@link InvalidOptionError} `HP_ERR_INVALID_OPTION` on a bad option. */
  constructor(options: IndexAdvisorOptions = {}) {
    this.#minTableRows = checkNumber('minTableRows', options.minTableRows ?? 10_000, { min: 0 });
    this.#maxSelectivity = checkNumber('maxSelectivity', options.maxSelectivity ?? 0.05, {
      min: 0,
      max: 1,
    });
    this.#minCostReduction = checkNumber('minCostReduction', options.minCostReduction ?? 10, {
      min: 1,
    });
  }

  /**
   * Plans `text` (unless `plan` is given), and returns the indexes worth creating for it.
   * HypoPG state is per connection, so this takes one connection from `pool` for its checks.
   */
  async advise(
    pool: SqlPool,
    text: string,
    params?: unknown[],
    options: { plan?: QueryPlan; signal?: AbortSignal } = {},
  ): Promise<IndexAdvice[]> {
    const plan = options.plan ?? (await explainQuery(pool, text, params, options));
    const client = await pool.connect();
    try {
      const candidates = await this.#candidates(client, plan.plan);
      if (candidates.length === 0) return [];
      const hypopg = await this.#hasHypopg(client);
      const advice: IndexAdvice[] = [];
      for (const candidate of candidates) {
        throwIfAborted(options.signal);
        const statement = `CREATE INDEX CONCURRENTLY ON ${quoteIdent(candidate.table)} (${candidate.columns.map((c) => quoteIdent(c)).join(', ')})`;
        if (!hypopg) {
          advice.push({
            ...candidate,
            statement,
            costBefore: plan.totalCost,
            costAfter: undefined,
            confirmed: false,
          });
          continue;
        }
        const costAfter = await this.#hypotheticalCost(client, candidate, text, params);
        if (plan.totalCost / costAfter >= this.#minCostReduction) {
          advice.push({
            ...candidate,
            statement,
            costBefore: plan.totalCost,
            costAfter,
            confirmed: true,
          });
        }
      }
      return advice;
    } finally {
      client.release();
    }
  }

  async #hasHypopg(client: SqlClient): Promise<boolean> {
    if (this.#hypopg !== undefined) return this.#hypopg;
    const result = await client.query(
      `${INTERNAL_SQL}SELECT 1 FROM pg_extension WHERE extname = 'hypopg'`,
    );
    this.#hypopg = result.rows.length > 0;
    return this.#hypopg;
  }

  async #hypotheticalCost(
    client: SqlClient,
    candidate: Candidate,
    text: string,
    params: unknown[] | undefined,
  ): Promise<number> {
    const create = `CREATE INDEX ON ${quoteIdent(candidate.table)} (${candidate.columns.map((c) => quoteIdent(c)).join(', ')})`;
    await client.query(`${INTERNAL_SQL}SELECT * FROM hypopg_create_index($1)`, [create]);
    try {
      return (await explainQuery(client, text, params)).totalCost;
    } finally {
      await client.query(`${INTERNAL_SQL}SELECT hypopg_reset()`);
    }
  }

  async #candidates(client: SqlClient, root: PlanNode): Promise<Candidate[]> {
    const out: Candidate[] = [];
    for (const node of planNodes(root)) {
      if (node['Node Type'] !== 'Seq Scan' || node.Filter === undefined) continue;
      const relation = node['Relation Name'];
      if (relation === undefined) continue;
      const table = node.Schema !== undefined ? `${node.Schema}.${relation}` : relation;
      const info = await client.query(
        `${INTERNAL_SQL}SELECT c.reltuples::float8 AS rows,
           array(SELECT attname::text FROM pg_attribute
                 WHERE attrelid = c.oid AND attnum > 0 AND NOT attisdropped) AS columns
         FROM pg_class c WHERE c.oid = $1::regclass`,
        [quoteIdent(table)],
      );
      const row = info.rows[0] as { rows: number; columns: string[] } | undefined;
      if (row === undefined) continue;
      const tableRows = Math.max(row.rows, scannedRows(node));
      if (tableRows < this.#minTableRows) continue;
      const kept = node['Actual Rows'] ?? node['Plan Rows'];
      if (tableRows > 0 && kept / tableRows > this.#maxSelectivity) continue;
      const columns = filterColumns(node.Filter, new Set(row.columns));
      if (columns.length === 0) continue;
      const removed = node['Rows Removed by Filter'];
      out.push({
        table,
        columns,
        reason: `Seq Scan on ${table} (~${Math.round(tableRows)} rows) with Filter ${node.Filter}${removed !== undefined ? `, ${removed} rows removed` : ''}`,
      });
    }
    return out;
  }
}

function scannedRows(node: PlanNode): number {
  const actual = node['Actual Rows'];
  const removed = node['Rows Removed by Filter'];
  if (actual === undefined || removed === undefined) return 0;
  return (actual + removed) * (node['Actual Loops'] ?? 1);
}

/**
 * The columns of a plan filter worth indexing, equality first then the first range column, as
 * `(user_id = 42) AND (created_at > ...)` gives `[user_id, created_at]`.
 */
export function filterColumns(filter: string, known: ReadonlySet<string>): string[] {
  const equality: string[] = [];
  const range: string[] = [];
  const comparison =
    /(?:^|[(\s])(?:\w+\.)?("(?:[^"]|"")+"|[a-z_][a-z0-9_$]*)\)?(?:::[\w\s]+?)?\s*(=|<>|<=|>=|<|>|~~)\s/gi;
  for (const match of filter.matchAll(comparison)) {
    let column = match[1]!;
    if (column.startsWith('"')) column = column.slice(1, -1).replaceAll('""', '"');
    if (!known.has(column)) continue;
    const op = match[2]!;
    if (op === '=') {
      if (!equality.includes(column)) equality.push(column);
    } else if (op !== '<>' && !range.includes(column)) range.push(column);
  }
  const firstRange = range.find((c) => !equality.includes(c));
  return firstRange === undefined ? equality : [...equality, firstRange];
}
