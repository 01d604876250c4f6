import { after, before } from 'node:test';
import pg from 'pg';
import { createTestDatabase } from './services.js';

/**
 * Registers, in the calling suite, a fresh database on `serverUrl` holding a `payments` table
 * (20,000 rows over 50 users, indexed on (user_id, created_at, id), analyzed) and a pool of 3
 * connections on it, dropped after the suite. Returns the pool's getter, valid once the
 * suite's `before` hooks have run.
 */
export function usePaymentsTable(serverUrl: string): () => pg.Pool {
  let db: { url: string; drop: () => Promise<void> } | undefined;
  let pool: pg.Pool | undefined;
  before(async () => {
    db = await createTestDatabase(serverUrl);
    pool = new pg.Pool({ connectionString: db.url, max: 3 });
    await pool.query(`CREATE TABLE payments (
      id bigint PRIMARY KEY, user_id bigint NOT NULL, amount int NOT NULL,
      created_at timestamptz NOT NULL, note text)`);
    await pool.query(`INSERT INTO payments
      SELECT g, g % 50, g * 10, timestamptz '2026-01-01' + g * interval '1 minute', NULL
      FROM generate_series(1, 20000) g`);
    await pool.query('CREATE INDEX payments_user_created ON payments (user_id, created_at, id)');
    await pool.query('ANALYZE payments');
  });
  after(async () => {
    await pool?.end();
    await db?.drop();
  });
  return () => pool!;
}
