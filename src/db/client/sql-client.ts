/**
 * The slice of a pg `Pool` / `PoolClient` (or a hotpath {@link Database}) the db helpers need:
 * one parameterized query. Anything with this method works, so the helpers run on a plain
 * pg pool, an instrumented one, a transaction or the embedded engine.
 *
 * Not the same role as {@link QueryExecutor}: that is what a hotpath {@link Database} offers
 * (typed rows, `rowCount` always a number), while this is what the helpers accept, loose
 * enough that pg's own `Pool` and `PoolClient` fit it as they are (their `rowCount` may be
 * `null`, their rows untyped). A `Database` fits both; a pg pool fits only this one.
 */
export interface SqlClient {
  query(
    text: string,
    params?: unknown[],
  ): Promise<{ rows: Record<string, unknown>[]; rowCount: number | null }>;
}

/** A pool that hands out one connection for several statements (BEGIN ... ROLLBACK). */
export interface SqlPool extends SqlClient {
  connect(): Promise<SqlClient & { release(error?: Error | boolean): void }>;
}

/**
 * Prefix of the statements hotpath/db issues itself (EXPLAIN, catalog look-ups): an
 * instrumented pool neither times nor counts them, so diagnosing a query never feeds back
 * into the statistics or the N+1 detector.
 */
export const INTERNAL_SQL = '/* hotpath:internal */ ';

/** Throws the signal's reason when it is aborted. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  signal?.throwIfAborted();
}

/** Quotes an SQL identifier (`"name"`), splitting `schema.table` on the dot. */
export function quoteIdent(name: string): string {
  return name
    .split('.')
    .map((part) => `"${part.replaceAll('"', '""')}"`)
    .join('.');
}
