import { InvalidOptionError } from '../../errors/index.js';
import { INTERNAL_SQL, quoteIdent, throwIfAborted, type SqlClient } from '../client/sql-client.js';
import { InvalidCursorError, MissingIndexError } from '../errors.js';

/** One sort key of a keyset ordering. */
export interface KeysetColumn {
  /** Column name (unquoted). */
  column: string;
  /** @defaultValue 'asc' */
  direction?: 'asc' | 'desc';
}

/** Options of {@link keysetPage}. */
export interface KeysetPageOptions {
  /** The table (or `schema.table`). */
  table: string;
  /** Columns to return. @defaultValue ['*'] */
  select?: string[];
  /**
   * Equality filter that precedes the keyset, e.g. `{ user_id: 7 }`; its columns should lead the
   * index (`(user_id, created_at, id)`).
   */
  where?: Record<string, unknown>;
  /**
   * The ordering; the last column must be unique (a primary key) so that pages never overlap.
   * All columns sort the same direction, so a row-value comparison can use the index.
   */
  orderBy: KeysetColumn[];
  /** Rows per page. */
  limit: number;
  /** The `nextCursor` of the previous page; none for the first page. */
  cursor?: string | undefined;
}

/** A built page query. */
export interface KeysetQuery {
  text: string;
  params: unknown[];
}

/** One page of rows and the cursor of the next, null on the last page. */
export interface KeysetPage<Row> {
  rows: Row[];
  nextCursor: string | null;
}

/** Encodes the sort-key values of the last row of a page as an opaque URL-safe cursor. */
export function encodeCursor(values: readonly unknown[]): string {
  return Buffer.from(
    JSON.stringify(values.map((v) => (v instanceof Date ? { d: v.toISOString() } : v))),
  ).toString('base64url');
}

/**
 * Decodes a cursor made by {@link encodeCursor}.
 * @throws {@link InvalidCursorError} `HP_ERR_DB_CURSOR_INVALID` when it is not one, or has not
 *   `length` values.
 */
export function decodeCursor(cursor: string, length: number): unknown[] {
  let values: unknown;
  try {
    if (!/^[A-Za-z0-9_-]*$/.test(cursor)) throw new Error('not base64url');
    values = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch (error) {
    throw new InvalidCursorError('the cursor is not one this API produced', { cause: error });
  }
  if (!Array.isArray(values) || values.length !== length) {
    throw new InvalidCursorError(`the cursor does not hold ${length} sort keys`);
  }
  return values.map((v: unknown) =>
    v !== null && typeof v === 'object' && typeof (v as { d?: unknown }).d === 'string'
      ? new Date((v as { d: string }).d)
      : v,
  );
}

function checkOrder(orderBy: KeysetColumn[]): 'asc' | 'desc' {
  if (!Array.isArray(orderBy) || orderBy.length === 0) {
    throw new InvalidOptionError('orderBy', 'expected at least one column');
  }
  const direction = orderBy[0]!.direction ?? 'asc';
  for (const key of orderBy) {
    if ((key.direction ?? 'asc') !== direction) {
      throw new InvalidOptionError('orderBy', 'every column must sort the same direction');
    }
  }
  return direction;
}

/**
 * Builds the query of one keyset page: `WHERE <filter> AND (a, b) > ($1, $2) ORDER BY a, b
 * LIMIT n+1` (one extra row tells whether a next page exists). Unlike OFFSET, its cost does
 * not grow with the page number: the index is entered at the cursor.
 * @throws {@link InvalidCursorError} `HP_ERR_DB_CURSOR_INVALID` on a bad cursor.
 */
export function buildKeysetQuery(options: KeysetPageOptions): KeysetQuery {
  const direction = checkOrder(options.orderBy);
  if (!Number.isInteger(options.limit) || options.limit < 1) {
    throw new InvalidOptionError('limit', 'expected a positive integer');
  }
  const params: unknown[] = [];
  const conditions: string[] = [];
  for (const [column, value] of Object.entries(options.where ?? {})) {
    params.push(value);
    conditions.push(`${quoteIdent(column)} = $${params.length}`);
  }
  const keys = options.orderBy.map((k) => quoteIdent(k.column));
  if (options.cursor !== undefined && options.cursor !== '') {
    const values = decodeCursor(options.cursor, keys.length);
    const placeholders = values.map((v) => {
      params.push(v);
      return `$${params.length}`;
    });
    conditions.push(
      `(${keys.join(', ')}) ${direction === 'asc' ? '>' : '<'} (${placeholders.join(', ')})`,
    );
  }
  params.push(options.limit + 1);
  const select = (options.select ?? ['*']).map((c) => (c === '*' ? c : quoteIdent(c))).join(', ');
  const text =
    `SELECT ${select} FROM ${quoteIdent(options.table)}` +
    (conditions.length > 0 ? ` WHERE ${conditions.join(' AND ')}` : '') +
    ` ORDER BY ${keys.map((k) => `${k} ${direction.toUpperCase()}`).join(', ')}` +
    ` LIMIT $${params.length}`;
  return { text, params };
}

/**
 * Fetches one keyset page.
 * @example
 * const page = await keysetPage(pool, {
 *   table: 'payments', where: { user_id: 7 },
 *   orderBy: [{ column: 'created_at', direction: 'desc' }, { column: 'id', direction: 'desc' }],
 *   limit: 20, cursor: req.query.cursor,
 * });
 * reply.send({ items: page.rows, next: page.nextCursor });
 */
export async function keysetPage<Row extends Record<string, unknown>>(
  client: SqlClient,
  options: KeysetPageOptions,
  signal?: AbortSignal,
): Promise<KeysetPage<Row>> {
  throwIfAborted(signal);
  const { text, params } = buildKeysetQuery(options);
  const { rows } = await client.query(text, params);
  const hasMore = rows.length > options.limit;
  const page = (hasMore ? rows.slice(0, options.limit) : rows) as Row[];
  const last = page[page.length - 1];
  const nextCursor =
    hasMore && last !== undefined ? encodeCursor(options.orderBy.map((k) => last[k.column])) : null;
  if (hasMore && last !== undefined && options.orderBy.some((k) => !(k.column in last))) {
    throw new InvalidOptionError(
      'select',
      'the selected columns must include every orderBy column',
    );
  }
  return { rows: page, nextCursor };
}

/**
 * Checks that an index serves a keyset query: a valid btree index whose leading columns are the
 * `where` columns (any order) followed by the `orderBy` columns in order (either direction, as a
 * btree is read both ways). Returns the index name.
 * @throws {@link MissingIndexError} `HP_ERR_DB_INDEX_MISSING` with the `CREATE INDEX` to run.
 */
export async function checkKeysetIndex(
  client: SqlClient,
  options: Pick<KeysetPageOptions, 'table' | 'where' | 'orderBy'>,
  signal?: AbortSignal,
): Promise<string> {
  checkOrder(options.orderBy);
  throwIfAborted(signal);
  const { rows } = await client.query(
    `${INTERNAL_SQL}SELECT i.indexrelid::regclass::text AS name,
       array(SELECT a.attname::text FROM unnest(i.indkey) WITH ORDINALITY k(attnum, n)
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
             ORDER BY k.n) AS columns
     FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am am ON am.oid = c.relam
     WHERE i.indrelid = $1::regclass AND i.indisvalid AND am.amname = 'btree' AND i.indpred IS NULL`,
    [quoteIdent(options.table)],
  );
  const equality = Object.keys(options.where ?? {});
  const order = options.orderBy.map((k) => k.column);
  for (const row of rows as Array<{ name: string; columns: string[] }>) {
    const lead = row.columns.slice(0, equality.length);
    const rest = row.columns.slice(equality.length, equality.length + order.length);
    if (
      lead.length === equality.length &&
      equality.every((c) => lead.includes(c)) &&
      rest.length === order.length &&
      rest.every((c, i) => c === order[i])
    ) {
      return row.name;
    }
  }
  const direction = (options.orderBy[0]!.direction ?? 'asc').toUpperCase();
  const columns = [
    ...equality.map((c) => quoteIdent(c)),
    ...order.map((c) => `${quoteIdent(c)} ${direction}`),
  ];
  const suggestion = `CREATE INDEX CONCURRENTLY ON ${quoteIdent(options.table)} (${columns.join(', ')})`;
  throw new MissingIndexError(
    `no btree index on ${options.table} starts with (${[...equality, ...order].join(', ')}): keyset pages would scan and sort; run ${suggestion}`,
    suggestion,
  );
}
