import type { Pool, PoolClient, PoolConfig } from 'pg';
import type { Database, QueryExecutor, QueryResult } from './database.js';
import { endPool } from '../pool/end-pool.js';
import { pingWithin } from './ping.js';
import { ConnectError, QueryError } from '../errors.js';

/** Options of {@link PostgresDatabase}. */
export interface PostgresDatabaseOptions {
  /** A pg `Pool` to use; the database closes it on `close()`. */
  pool: Pool;
}

async function run<Row>(
  target: Pool | PoolClient,
  text: string,
  params: readonly unknown[] | undefined,
): Promise<QueryResult<Row>> {
  try {
    const result = await target.query(text, params as unknown[] | undefined);
    return { rows: result.rows as Row[], rowCount: result.rowCount ?? result.rows.length };
  } catch (error) {
    throw QueryError.from(error);
  }
}

/** A {@link Database} over a pg `Pool`: a real PostgreSQL server. */
export class PostgresDatabase implements Database {
  readonly kind = 'postgres' as const;
  readonly #pool: Pool;

  constructor(options: PostgresDatabaseOptions) {
    this.#pool = options.pool;
  }

  /** The pg pool underneath, for instrumentation. */
  get pool(): Pool {
    return this.#pool;
  }

  query<Row = Record<string, unknown>>(
    text: string,
    params?: readonly unknown[],
  ): Promise<QueryResult<Row>> {
    return run<Row>(this.#pool, text, params);
  }

  async transaction<T>(fn: (tx: QueryExecutor) => Promise<T>): Promise<T> {
    let client: PoolClient;
    try {
      client = await this.#pool.connect();
    } catch (error) {
      throw new ConnectError(`cannot get a connection: ${(error as Error).message}`, {
        cause: error,
      });
    }
    const tx: QueryExecutor = { query: (text, params) => run(client, text, params) };
    let broken = false;
    try {
      await run(client, 'BEGIN', undefined);
      const value = await fn(tx);
      await run(client, 'COMMIT', undefined);
      return value;
    } catch (error) {
      try {
        await client.query('ROLLBACK');
      } catch {
        broken = true;
      }
      throw error;
    } finally {
      // A connection whose ROLLBACK failed is in an unknown state: destroy it, don't reuse it.
      client.release(broken);
    }
  }

  ping(timeoutMs = 2000): Promise<void> {
    return pingWithin(this, timeoutMs);
  }

  close(): Promise<void> {
    return endPool(this.#pool);
  }
}

/**
 * Connects to a PostgreSQL server and checks it answers.
 * @throws {@link ConnectError} `HP_ERR_DB_CONNECT` naming the host when it cannot be reached.
 */
export async function connectPostgres(
  url: string,
  config: PoolConfig = {},
): Promise<PostgresDatabase> {
  const { default: pg } = await import('pg');
  // int8 (bigint) as a JS number when exact, the same as the embedded backend.
  const types = {
    getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
      oid === 20 && format !== 'binary'
        ? parseInt8
        : pg.types.getTypeParser(oid, format ?? 'text')) as typeof pg.types.getTypeParser,
  };
  const pool = new pg.Pool({
    connectionString: url,
    connectionTimeoutMillis: 5000,
    types,
    ...config,
  });
  // An idle client that loses its server emits 'error' on the pool; without a listener that
  // would crash the process. The next query reports the failure instead.
  pool.on('error', () => {});
  const database = new PostgresDatabase({ pool });
  try {
    await database.query('SELECT 1');
  } catch (error) {
    await endPool(pool).catch(() => {});
    const where = safeHost(url);
    const reason =
      error instanceof Error && error.cause instanceof Error ? error.cause.message : String(error);
    throw new ConnectError(
      `cannot connect to PostgreSQL at ${where}: ${reason || 'connection failed'}`,
      {
        cause: error,
      },
    );
  }
  return database;
}

function safeHost(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || '5432'}${u.pathname}`;
  } catch {
    return 'the given URL';
  }
}

function parseInt8(value: string): number | bigint {
  const n = Number(value);
  return Number.isSafeInteger(n) ? n : BigInt(value);
}
