import { InvalidOptionError } from '../../errors/index.js';
import {
  INTERNAL_SQL,
  throwIfAborted,
  type SqlClient,
  type SqlPool,
} from '../client/sql-client.js';

/** One node of a PostgreSQL plan as `EXPLAIN (FORMAT JSON)` returns it. */
export interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  Schema?: string;
  Alias?: string;
  'Index Name'?: string;
  Filter?: string;
  'Total Cost': number;
  'Plan Rows': number;
  'Actual Rows'?: number;
  'Actual Loops'?: number;
  'Rows Removed by Filter'?: number;
  Plans?: PlanNode[];
  [key: string]: unknown;
}

/** A query plan. */
export interface QueryPlan {
  /** The root node. */
  plan: PlanNode;
  /** The planner's total cost estimate of the root. */
  totalCost: number;
  /** Present with `analyze`: the real run time in milliseconds. */
  executionMs: number | undefined;
  /** Whether the plan was measured (`EXPLAIN ANALYZE`). */
  analyzed: boolean;
}

/** Options of {@link explainQuery}. */
export interface ExplainOptions {
  /**
   * Run the query for real (`EXPLAIN ANALYZE`) inside a transaction that is rolled back. Only
   * allowed for read-only statements (SELECT, or WITH without INSERT/UPDATE/DELETE/MERGE).
   * @defaultValue false
   */
  analyze?: boolean;
  /**
   * Statement timeout for `EXPLAIN ANALYZE`, in milliseconds.
   * @defaultValue 10000
   */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** True when `normalized` (a fingerprint) reads only: SELECT / VALUES / TABLE, or WITH without writes. */
export function isReadOnly(normalized: string): boolean {
  const sql = normalized.trimStart().toLowerCase();
  if (/^(select|values|table)\b/.test(sql))
    return !/\bfor (update|no key update|share)\b/.test(sql);
  if (/^with\b/.test(sql)) return !/\b(insert|update|delete|merge)\b/.test(sql);
  return false;
}

/**
 * Returns the plan of `text` run with `params`. Plain `EXPLAIN` plans without running;
 * `analyze: true` runs the statement inside BEGIN ... ROLLBACK on one connection.
 * @throws {@link InvalidOptionError} `HP_ERR_INVALID_OPTION` when `analyze` is asked for a
 *   statement that writes.
 * @example
 * const { plan, totalCost } = await explainQuery(pool, 'SELECT * FROM payments WHERE user_id = $1', [7]);
 */
export async function explainQuery(
  pool: SqlPool | SqlClient,
  text: string,
  params: unknown[] | undefined,
  options: ExplainOptions = {},
): Promise<QueryPlan> {
  throwIfAborted(options.signal);
  if (options.analyze !== true) {
    const result = await pool.query(`${INTERNAL_SQL}EXPLAIN (FORMAT JSON) ${text}`, params);
    return parsePlan(result.rows[0], false);
  }
  if (!isReadOnly(text)) {
    throw new InvalidOptionError('analyze', 'EXPLAIN ANALYZE runs the statement: SELECT only');
  }
  if (!('connect' in pool)) {
    throw new InvalidOptionError(
      'pool',
      'EXPLAIN ANALYZE needs a pool (connect()) for BEGIN/ROLLBACK',
    );
  }
  const timeoutMs = Math.max(1, Math.floor(options.timeoutMs ?? 10_000));
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query(`${INTERNAL_SQL}BEGIN READ ONLY`);
    await client.query(`${INTERNAL_SQL}SET LOCAL statement_timeout = ${timeoutMs}`);
    const result = await client.query(
      `${INTERNAL_SQL}EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ${text}`,
      params,
    );
    return parsePlan(result.rows[0], true);
  } catch (error) {
    broken = error as Error;
    throw error;
  } finally {
    try {
      await client.query(`${INTERNAL_SQL}ROLLBACK`);
      client.release();
    } catch (rollbackError) {
      client.release((broken ?? rollbackError) as Error);
    }
  }
}

function parsePlan(row: Record<string, unknown> | undefined, analyzed: boolean): QueryPlan {
  let value = row?.['QUERY PLAN'];
  if (typeof value === 'string') value = JSON.parse(value);
  const top = (value as Array<{ Plan: PlanNode; 'Execution Time'?: number }>)[0]!;
  return {
    plan: top.Plan,
    totalCost: top.Plan['Total Cost'],
    executionMs: top['Execution Time'],
    analyzed,
  };
}

/** Every node of `plan`, depth first. */
export function* planNodes(plan: PlanNode): Generator<PlanNode> {
  yield plan;
  for (const child of plan.Plans ?? []) yield* planNodes(child);
}
