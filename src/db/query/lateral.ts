import { InvalidOptionError } from '../../errors/index.js';
import { BatchLoader } from './batch-loader.js';
import type { KeysetColumn } from './keyset.js';
import { quoteIdent, type SqlClient } from '../client/sql-client.js';

/** What to load per key: "the latest `limit` rows of `table` for each `keyColumn` value". */
export interface PerKeyQueryOptions {
  table: string;
  /** The column the keys are matched on (`user_id`). */
  keyColumn: string;
  /** PostgreSQL type of the keys, for the array parameter. @defaultValue 'bigint' */
  keyType?: string;
  /** Columns to return. @defaultValue ['*'] */
  select?: string[];
  /** Order within each key (`created_at DESC`); an index on (keyColumn, ...orderBy) serves it. */
  orderBy: KeysetColumn[];
  /** Rows per key. @defaultValue 1 */
  limit?: number;
}

function parts(options: PerKeyQueryOptions): {
  type: string;
  select: string;
  order: string;
  limit: number;
} {
  const type = options.keyType ?? 'bigint';
  if (!/^[a-z][a-z0-9_ ]*$/i.test(type))
    throw new InvalidOptionError('keyType', `bad type ${type}`);
  const limit = options.limit ?? 1;
  if (!Number.isInteger(limit) || limit < 1)
    throw new InvalidOptionError('limit', 'expected a positive integer');
  if (options.orderBy.length === 0) throw new InvalidOptionError('orderBy', 'expected a column');
  const select = (options.select ?? ['*'])
    .map((c) => (c === '*' ? 't.*' : `t.${quoteIdent(c)}`))
    .join(', ');
  const order = options.orderBy
    .map((k) => `${quoteIdent(k.column)} ${(k.direction ?? 'asc').toUpperCase()}`)
    .join(', ');
  return { type, select, order, limit };
}

/**
 * The index-friendly batched query: one index probe per key, each stopping after `limit` rows.
 *
 *   SELECT k.key AS "__key", t.* FROM unnest($1::bigint[]) AS k(key)
 *   CROSS JOIN LATERAL (SELECT * FROM payments WHERE user_id = k.key
 *                       ORDER BY created_at DESC LIMIT 1) t
 *
 * `WHERE user_id = ANY($1)` with `DISTINCT ON` reads and sorts every row of every key instead;
 * bench/db/n-plus-one.bench.ts measures both.
 */
export function buildLateralQuery(options: PerKeyQueryOptions): string {
  const { type, select, order, limit } = parts(options);
  return (
    `SELECT k.key AS "__key", ${select} FROM unnest($1::${type}[]) AS k(key) ` +
    `CROSS JOIN LATERAL (SELECT * FROM ${quoteIdent(options.table)} ` +
    `WHERE ${quoteIdent(options.keyColumn)} = k.key ORDER BY ${order} LIMIT ${limit}) t`
  );
}

/**
 * The common batched shape, kept to compare against: `= ANY($1)` then `DISTINCT ON` (only for
 * `limit` 1). Correct, but it reads every row of every key.
 */
export function buildAnyDistinctQuery(options: PerKeyQueryOptions): string {
  const { type, select, order } = parts(options);
  const key = quoteIdent(options.keyColumn);
  return (
    `SELECT DISTINCT ON (t.${key}) t.${key} AS "__key", ${select} FROM ${quoteIdent(options.table)} t ` +
    `WHERE t.${key} = ANY($1::${type}[]) ORDER BY t.${key}, ${order}`
  );
}

/**
 * A {@link BatchLoader} that answers `load(key)` with the key's first `limit` rows (in
 * `orderBy` order), batched through {@link buildLateralQuery}. Make one per request.
 * @example
 * const latest = lateralLoader<number, Payment>(pool, {
 *   table: 'payments', keyColumn: 'user_id',
 *   orderBy: [{ column: 'created_at', direction: 'desc' }], limit: 1,
 * });
 * const [payment] = (await latest.load(userId)) ?? [];
 */
export function lateralLoader<K, Row extends Record<string, unknown>>(
  client: SqlClient,
  options: PerKeyQueryOptions & { maxBatchSize?: number },
): BatchLoader<K, Row[]> {
  const text = buildLateralQuery(options);
  return new BatchLoader<K, Row[]>({
    maxBatchSize: options.maxBatchSize ?? 500,
    batch: async (keys) => {
      const { rows } = await client.query(text, [keys]);
      // pg returns bigint as a string: match keys by their text form
      const byText = new Map<string, Row[]>();
      for (const key of keys) byText.set(String(key), []);
      for (const row of rows) {
        const { __key, ...rest } = row;
        byText.get(String(__key))?.push(rest as Row);
      }
      return keys.map((key) => byText.get(String(key)));
    },
  });
}
