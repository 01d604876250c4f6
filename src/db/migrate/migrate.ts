import { createHash } from 'node:crypto';
import type { Database } from '../client/database.js';
import { MigrationError } from '../errors.js';

/** One versioned schema change. Versions are applied in ascending order, each exactly once. */
export interface Migration {
  /** Positive integer, unique; the order of application. */
  version: number;
  /** Short name, e.g. `create_payments`. */
  name: string;
  /** The SQL, one or more statements. */
  sql: string;
}

/** What {@link migrate} did. */
export interface MigrateResult {
  /** Versions applied by this call, in order. */
  applied: number[];
  /** The highest version now in the database. */
  current: number;
}

const checksum = (sql: string) => createHash('sha256').update(sql).digest('hex').slice(0, 16);

// Serializes migrators across processes (cluster mode, several instances) on a server.
const LOCK_KEY = 7_426_531;

/**
 * Applies the migrations not yet in `hotpath_migrations`, each in its own transaction,
 * under an advisory lock so concurrent starts apply each one once.
 * @throws {@link MigrationError} `HP_ERR_DB_MIGRATION` when a migration fails (rolled back)
 *   or an applied migration's SQL has changed since.
 */
export async function migrate(
  db: Database,
  migrations: readonly Migration[],
): Promise<MigrateResult> {
  const sorted = [...migrations].sort((a, b) => a.version - b.version);
  for (let i = 0; i < sorted.length; i++) {
    const m = sorted[i]!;
    if (!Number.isSafeInteger(m.version) || m.version <= 0) {
      throw new MigrationError(
        m.version,
        `migration version must be a positive integer, got ${m.version}`,
      );
    }
    if (i > 0 && sorted[i - 1]!.version === m.version) {
      throw new MigrationError(m.version, `two migrations have version ${m.version}`);
    }
  }
  await db.query(`CREATE TABLE IF NOT EXISTS hotpath_migrations (
    version integer PRIMARY KEY,
    name text NOT NULL,
    checksum text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
  )`);

  const applied: number[] = [];
  for (const migration of sorted) {
    const sum = checksum(migration.sql);
    await db.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock($1)', [LOCK_KEY]);
      const { rows } = await tx.query<{ checksum: string }>(
        'SELECT checksum FROM hotpath_migrations WHERE version = $1',
        [migration.version],
      );
      const existing = rows[0];
      if (existing !== undefined) {
        if (existing.checksum !== sum) {
          throw new MigrationError(
            migration.version,
            `migration ${migration.version} (${migration.name}) was changed after it was applied: add a new migration instead`,
          );
        }
        return;
      }
      try {
        for (const statement of splitStatements(migration.sql)) await tx.query(statement);
      } catch (error) {
        throw new MigrationError(
          migration.version,
          `migration ${migration.version} (${migration.name}) failed: ${(error as Error).message}`,
          { cause: error },
        );
      }
      await tx.query(
        'INSERT INTO hotpath_migrations (version, name, checksum) VALUES ($1, $2, $3)',
        [migration.version, migration.name, sum],
      );
      applied.push(migration.version);
    });
  }
  const { rows } = await db.query<{ v: number | null }>(
    'SELECT max(version) AS v FROM hotpath_migrations',
  );
  return { applied, current: rows[0]?.v ?? 0 };
}

/**
 * Splits SQL on semicolons that end a statement (outside quotes, comments and dollar-quoted
 * bodies): parameterized queries take one statement at a time on both backends.
 */
export function splitStatements(sql: string): string[] {
  const out: string[] = [];
  let start = 0;
  let i = 0;
  while (i < sql.length) {
    const c = sql[i]!;
    if (c === "'" || c === '"') {
      const end = sql.indexOf(c, i + 1);
      i = end === -1 ? sql.length : end + 1;
    } else if (c === '-' && sql[i + 1] === '-') {
      const end = sql.indexOf('\n', i);
      i = end === -1 ? sql.length : end + 1;
    } else if (c === '/' && sql[i + 1] === '*') {
      const end = sql.indexOf('*/', i + 2);
      i = end === -1 ? sql.length : end + 2;
    } else if (c === '$') {
      const tag = /^\$[A-Za-z_0-9]*\$/.exec(sql.slice(i))?.[0];
      if (tag === undefined) {
        i++;
      } else {
        const end = sql.indexOf(tag, i + tag.length);
        i = end === -1 ? sql.length : end + tag.length;
      }
    } else if (c === ';') {
      const statement = sql.slice(start, i).trim();
      if (statement.length > 0) out.push(statement);
      start = ++i;
    } else {
      i++;
    }
  }
  const last = sql.slice(start).trim();
  if (last.length > 0 && !/^(--[^\n]*\n?|\s)*$/.test(last)) out.push(last);
  return out;
}
