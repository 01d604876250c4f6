/**
 * Shared setup of the db benches: a fresh database on the real PostgreSQL server of
 * scripts/services.sh (started if needed), filled with a payments table, dropped at the end.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import pg from 'pg';

export const ADMIN_URL =
  process.env.TEST_DATABASE_URL ??
  `postgres://postgres@127.0.0.1:${process.env.HOTPATH_PG_PORT ?? 54329}/postgres`;

export interface BenchDatabase {
  url: string;
  drop(): Promise<void>;
}

/** Starts the server if needed and creates an empty database. */
export async function benchDatabase(): Promise<BenchDatabase> {
  execFileSync(
    'bash',
    [resolve(import.meta.dirname, '../../scripts/services.sh'), 'start', 'postgres'],
    {
      stdio: 'ignore',
    },
  );
  const name = `hp_bench_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const c = new pg.Client({ connectionString: ADMIN_URL });
      await c.connect();
      // pg's pool.end() resolves before its sockets close: wait for the backends to go, so
      // FORCE never kills a connection whose pool no longer listens for errors
      for (let i = 0; i < 50; i++) {
        const { rows } = await c.query(
          'SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1',
          [name],
        );
        if (rows[0].n === 0) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

/**
 * `payments(id, user_id, amount, currency, status, created_at)` with `perUser` rows for each of
 * `users` users, indexed on (user_id, created_at) and (created_at, id).
 */
export async function fillPayments(pool: pg.Pool, users: number, perUser: number): Promise<void> {
  await pool.query(
    `CREATE TABLE users (id bigint PRIMARY KEY, name text NOT NULL, country text NOT NULL)`,
  );
  await pool.query(`CREATE TABLE payments (
    id bigint PRIMARY KEY, user_id bigint NOT NULL REFERENCES users(id), amount int NOT NULL,
    currency text NOT NULL, status text NOT NULL, created_at timestamptz NOT NULL)`);
  await pool.query(
    `INSERT INTO users SELECT g, 'user ' || g, (ARRAY['FR','DE','US','JP'])[1 + g % 4] FROM generate_series(1, $1) g`,
    [users],
  );
  await pool.query(
    `INSERT INTO payments
     SELECT g, 1 + g % $1, (g * 7919) % 100000, (ARRAY['EUR','USD','JPY'])[1 + g % 3],
            (ARRAY['paid','pending','failed'])[1 + g % 3],
            timestamptz '2026-01-01' + g * interval '1 second'
     FROM generate_series(1, $2::int) g`,
    [users, users * perUser],
  );
  await pool.query('CREATE INDEX payments_user_created ON payments (user_id, created_at)');
  await pool.query('CREATE INDEX payments_created_id ON payments (created_at, id)');
  await pool.query('VACUUM ANALYZE payments');
  await pool.query('VACUUM ANALYZE users');
}

/** Runs `op` as often as it can for `ms` milliseconds with `concurrency` workers; ops/s. */
export async function throughput(
  op: () => Promise<unknown>,
  ms: number,
  concurrency = 1,
): Promise<number> {
  const end = performance.now() + ms;
  let count = 0;
  const worker = async (): Promise<void> => {
    while (performance.now() < end) {
      await op();
      count++;
    }
  };
  const start = performance.now();
  await Promise.all(Array.from({ length: concurrency }, worker));
  return (count * 1000) / (performance.now() - start);
}
