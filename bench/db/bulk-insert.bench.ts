/**
 * Inserting rows into real PostgreSQL, rows/s: one INSERT per row in autocommit (the naive
 * loop) vs hotpath's multi-row VALUES chunks, one `unnest` statement, and COPY FROM STDIN.
 *
 *   npm run bench -- db --filter bulk-insert
 */
import { copyRows, insertMultiRow, insertUnnest } from 'hotpath/db';
import pg from 'pg';
import { interleave, printRatios, writeResult } from '../lib/report.js';
import { benchDatabase } from './setup.js';

const ROWS = 50_000;
const ONE_BY_ONE_ROWS = 2_000;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const columns = ['id', 'user_id', 'amount', 'currency', 'status', 'created_at'];
const types = ['bigint', 'bigint', 'int', 'text', 'text', 'timestamptz'];

const db = await benchDatabase();
const pool = new pg.Pool({ connectionString: db.url, max: 2 });
try {
  await pool.query(`CREATE TABLE payments (
    id bigint PRIMARY KEY, user_id bigint NOT NULL, amount int NOT NULL,
    currency text NOT NULL, status text NOT NULL, created_at timestamptz NOT NULL)`);
  const at = new Date('2026-01-01T00:00:00Z');
  const rows = (n: number): unknown[][] =>
    Array.from({ length: n }, (_, i) => [i + 1, 1 + (i % 1000), i % 10_000, 'EUR', 'paid', at]);
  const big = rows(ROWS);
  const small = rows(ONE_BY_ONE_ROWS);
  const timed = async (n: number, fn: () => Promise<unknown>): Promise<number> => {
    await pool.query('TRUNCATE payments');
    const start = performance.now();
    await fn();
    const elapsed = performance.now() - start;
    const { rows: c } = await pool.query('SELECT count(*)::int AS n FROM payments');
    if (c[0]!.n !== n) throw new Error(`inserted ${c[0]!.n}, expected ${n}`);
    return (n * 1000) / elapsed;
  };
  const insertOne =
    'INSERT INTO payments (id, user_id, amount, currency, status, created_at) VALUES ($1, $2, $3, $4, $5, $6)';
  const candidates = {
    'one-by-one (autocommit)': () =>
      timed(ONE_BY_ONE_ROWS, async () => {
        for (const row of small) await pool.query({ name: 'one', text: insertOne, values: row });
      }),
    'multi-row VALUES x1000': () =>
      timed(ROWS, () =>
        insertMultiRow(pool, { table: 'payments', columns, rows: big, chunkSize: 1000 }),
      ),
    unnest: () =>
      timed(ROWS, () => insertUnnest(pool, { table: 'payments', columns, types, rows: big })),
    'COPY FROM STDIN': () =>
      timed(ROWS, async () => {
        const client = await pool.connect();
        try {
          await copyRows(client, { table: 'payments', columns, rows: big });
        } finally {
          client.release();
        }
      }),
  };
  for (const fn of Object.values(candidates)) await fn();
  const results = await interleave(candidates, ROUNDS);
  printRatios(
    `insert ${ROWS} rows (${ONE_BY_ONE_ROWS} one by one), rows/s, ${ROUNDS} rounds`,
    Object.fromEntries(Object.entries(results).map(([n, r]) => [n, r.median])),
    'rows/s',
    'COPY FROM STDIN',
  );
  const base = results['one-by-one (autocommit)']!.median;
  for (const [name, r] of Object.entries(results)) {
    console.log(`  ${name}: ${(r.median / base).toFixed(1)}x one-by-one`);
  }
  writeResult('db-bulk-insert', { rows: ROWS, oneByOneRows: ONE_BY_ONE_ROWS, results });
} finally {
  await pool.end();
  await db.drop();
}
