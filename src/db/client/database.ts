/** The result of one query: the rows and the number of rows the command returned or changed. */
export interface QueryResult<Row> {
  rows: Row[];
  rowCount: number;
}

/** Anything that runs a parameterized query: a database, or a transaction inside one. */
export interface QueryExecutor {
  /**
   * Runs one statement with `$1`-style parameters.
   * @throws {@link QueryError} `HP_ERR_DB_QUERY` when the database rejects it.
   */
  query<Row = Record<string, unknown>>(
    text: string,
    params?: readonly unknown[],
  ): Promise<QueryResult<Row>>;
}

/**
 * A PostgreSQL database behind one small interface, served either by a real server through a
 * pg pool ({@link PostgresDatabase}) or by embedded PGlite in a worker thread
 * ({@link EmbeddedDatabase}), so repository code is written once for both.
 */
export interface Database extends QueryExecutor {
  /** `postgres` for a server through pg, `pglite` for the embedded engine. */
  readonly kind: 'postgres' | 'pglite';
  /**
   * Runs `fn` inside BEGIN ... COMMIT on one connection; rolls back and rethrows if `fn` throws.
   * Queries must go through the `tx` it is given.
   */
  transaction<T>(fn: (tx: QueryExecutor) => Promise<T>): Promise<T>;
  /** Resolves when the database answers `SELECT 1` within `timeoutMs`; rejects otherwise. */
  ping(timeoutMs?: number): Promise<void>;
  /** Waits for running queries, then releases every connection (or stops the worker). */
  close(): Promise<void>;
}
