import { InvalidOptionError } from '../../errors/index.js';
import { binaryCopyChunks, binaryEncoders } from './copy-binary.js';
import { quoteIdent, throwIfAborted, type SqlClient } from '../client/sql-client.js';

/** What to insert: rows as arrays aligned with `columns`. */
export interface BulkInsertOptions {
  table: string;
  columns: string[];
  rows: readonly (readonly unknown[])[];
  signal?: AbortSignal;
}

// PostgreSQL's wire protocol caps a statement at 65535 parameters.
const MAX_PARAMS = 65_535;

function check(options: BulkInsertOptions): void {
  if (!Array.isArray(options.columns) || options.columns.length === 0) {
    throw new InvalidOptionError('columns', 'expected at least one column');
  }
  for (const [i, row] of options.rows.entries()) {
    if (row.length !== options.columns.length) {
      throw new InvalidOptionError(
        'rows',
        `row ${i} has ${row.length} values, expected ${options.columns.length}`,
      );
    }
  }
}

/**
 * Inserts with multi-row `INSERT ... VALUES ($1, $2), ($3, $4), ...` statements of `chunkSize`
 * rows (capped so a statement stays under 65535 parameters). Returns the rows inserted. Run it
 * in a transaction for all-or-nothing.
 */
export async function insertMultiRow(
  client: SqlClient,
  options: BulkInsertOptions & { chunkSize?: number },
): Promise<number> {
  check(options);
  const width = options.columns.length;
  const chunk = Math.max(1, Math.min(options.chunkSize ?? 1000, Math.floor(MAX_PARAMS / width)));
  const head = `INSERT INTO ${quoteIdent(options.table)} (${options.columns.map((c) => quoteIdent(c)).join(', ')}) VALUES `;
  let inserted = 0;
  let cachedSize = -1;
  let cachedText = '';
  for (let start = 0; start < options.rows.length; start += chunk) {
    throwIfAborted(options.signal);
    const rows = options.rows.slice(start, start + chunk);
    if (rows.length !== cachedSize) {
      const groups: string[] = [];
      for (let r = 0; r < rows.length; r++) {
        const ps: string[] = [];
        for (let c = 1; c <= width; c++) ps.push(`$${r * width + c}`);
        groups.push(`(${ps.join(', ')})`);
      }
      cachedText = head + groups.join(', ');
      cachedSize = rows.length;
    }
    const result = await client.query(cachedText, rows.flat());
    inserted += result.rowCount ?? rows.length;
  }
  return inserted;
}

/**
 * Inserts with one statement whatever the row count: one array parameter per column,
 * `INSERT ... SELECT * FROM unnest($1::int[], $2::text[])`. `types` are the PostgreSQL types of
 * the columns. One parse and plan for any size, and no parameter limit.
 */
export async function insertUnnest(
  client: SqlClient,
  options: BulkInsertOptions & { types: string[] },
): Promise<number> {
  check(options);
  if (options.types?.length !== options.columns.length) {
    throw new InvalidOptionError('types', 'expected one PostgreSQL type per column');
  }
  for (const t of options.types) {
    if (!/^[a-z][a-z0-9_ ]*(\(\d+(, ?\d+)?\))?$/i.test(t))
      throw new InvalidOptionError('types', `bad type ${t}`);
  }
  throwIfAborted(options.signal);
  const arrays = options.columns.map((_, c) => options.rows.map((row) => row[c]));
  const text =
    `INSERT INTO ${quoteIdent(options.table)} (${options.columns.map((c) => quoteIdent(c)).join(', ')}) ` +
    `SELECT * FROM unnest(${options.types.map((t, i) => `$${i + 1}::${t}[]`).join(', ')})`;
  const result = await client.query(text, arrays);
  return result.rowCount ?? options.rows.length;
}

const special = /[\\\n\r\t]/;
const specials = /[\\\n\r\t]/g;
const escapes: Record<string, string> = { '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' };

function escapeCopy(text: string): string {
  // most values hold no special character: test before building a new string
  return special.test(text) ? text.replace(specials, (c) => escapes[c]!) : text;
}

/** Writes one value in COPY text format (a switch on the type, no per-value allocation). */
function copyValue(value: unknown): string {
  switch (typeof value) {
    case 'number':
    case 'bigint':
      return String(value);
    case 'string':
      return escapeCopy(value);
    case 'boolean':
      return value ? 't' : 'f';
    default:
      if (value === null || value === undefined) return '\\N';
      if (value instanceof Date) return value.toISOString();
      // bytea's hex form, its backslash escaped for COPY
      if (value instanceof Uint8Array) return `\\\\x${Buffer.from(value).toString('hex')}`;
      return escapeCopy(JSON.stringify(value));
  }
}

/** A pg client that can run a COPY stream (a `pg.PoolClient` or `pg.Client`). */
export interface CopyCapableClient {
  query(stream: unknown): unknown;
}

/** Options of {@link copyRows}. */
export interface CopyRowsOptions extends BulkInsertOptions {
  /**
   * `text` sends values as text the server parses; `binary` sends them in their stored form,
   * which the server takes faster (needs `types`; see {@link BINARY_COPY_TYPES}).
   * @defaultValue 'text'
   */
  format?: 'text' | 'binary';
  /** PostgreSQL type of each column (`bigint`, `text`, `timestamptz`...): required for binary. */
  types?: string[];
}

// One CopyData message per chunk: large enough that per-message costs vanish, small enough
// that encoding the next chunk overlaps with the server reading this one.
const CHUNK_BYTES = 64 * 1024;

function* textCopyChunks(rows: readonly (readonly unknown[])[]): Generator<string> {
  let buffer = '';
  for (const row of rows) {
    let line = '';
    for (let c = 0; c < row.length; c++) line += (c === 0 ? '' : '\t') + copyValue(row[c]);
    buffer += line + '\n';
    if (buffer.length >= CHUNK_BYTES) {
      yield buffer;
      buffer = '';
    }
  }
  if (buffer.length > 0) yield buffer;
}

/**
 * Streams rows with `COPY table (columns) FROM STDIN` through pg-copy-streams, the fastest way
 * in: no per-row parse, plan or parameter; one statement, so all rows or none. Text format by
 * default; `format: 'binary'` with `types` is faster still. Needs a dedicated client
 * (`pool.connect()`), and the optional `pg-copy-streams` package.
 * @throws {@link InvalidOptionError} `HP_ERR_INVALID_OPTION` when pg-copy-streams is not
 *   installed, or for binary without a supported type per column.
 * @example
 * const client = await pool.connect();
 * try {
 *   await copyRows(client, { table: 'payments', columns: ['id', 'amount'], rows,
 *                            format: 'binary', types: ['bigint', 'int'] });
 * } finally {
 *   client.release();
 * }
 */
export async function copyRows(
  client: CopyCapableClient,
  options: CopyRowsOptions,
): Promise<number> {
  check(options);
  const binary = options.format === 'binary';
  if (options.format !== undefined && options.format !== 'text' && !binary) {
    throw new InvalidOptionError(
      'format',
      `expected "text" or "binary", got ${String(options.format)}`,
    );
  }
  if (binary && options.types?.length !== options.columns.length) {
    throw new InvalidOptionError('types', 'binary COPY needs one PostgreSQL type per column');
  }
  const encoders = binary ? binaryEncoders(options.types!) : undefined;
  throwIfAborted(options.signal);
  let copyFrom: (text: string) => NodeJS.WritableStream & { rowCount?: number };
  try {
    ({ from: copyFrom } = (await import('pg-copy-streams')) as unknown as {
      from: typeof copyFrom;
    });
  } catch (error) {
    throw new InvalidOptionError('client', 'copyRows needs the pg-copy-streams package', {
      cause: error,
    });
  }
  const stream = client.query(
    copyFrom(
      `COPY ${quoteIdent(options.table)} (${options.columns.map((c) => quoteIdent(c)).join(', ')}) FROM STDIN${binary ? ' (FORMAT binary)' : ''}`,
    ),
  ) as NodeJS.WritableStream & { rowCount?: number };
  const { Readable } = await import('node:stream');
  const { pipeline } = await import('node:stream/promises');
  const rows = options.rows;
  const chunks =
    encoders === undefined ? textCopyChunks(rows) : binaryCopyChunks(rows, encoders, CHUNK_BYTES);
  await pipeline(Readable.from(chunks), stream, { signal: options.signal });
  return stream.rowCount ?? rows.length;
}
