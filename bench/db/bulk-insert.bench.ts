/**
 * Inserting rows into real PostgreSQL, rows/s: one INSERT per row in autocommit (the naive
 * loop) vs hotpath's multi-row VALUES chunks, one `unnest` statement, and COPY FROM STDIN in
 * text and binary format.
 *
 * The one-by-one loop pays one commit per row, so the ratio depends on what a commit costs.
 * It runs on two servers, each named with its settings in the output:
 *   - durable: a throwaway server started by this bench with PostgreSQL's defaults (fsync=on,
 *     synchronous_commit=on, full_page_writes=on): each autocommit INSERT waits for its WAL
 *     flush, as on a production server;
 *   - fsync=off: the shared test server of scripts/services.sh (fsync=off,
 *     synchronous_commit=off, full_page_writes=off), where a commit never waits for the disk.
 *
 *   npm run bench -- db --filter bulk-insert
 */
import { copyRows, insertMultiRow, insertUnnest } from 'hotpath/db';
import pg from 'pg';
import { interleave, printRatios, writeResult } from '../lib/report.js';
import { startDurableServer, type DurableServer } from './durable-server.js';
import { benchDatabase, type BenchDatabase } from './setup.js';

const ROWS = 50_000;
const ONE_BY_ONE_ROWS = 2_000;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const columns = ['id', 'user_id', 'amount', 'currency', 'status', 'created_at'];
const types = ['bigint', 'bigint', 'int', 'text', 'text', 'timestamptz'];
const SETTINGS = ['fsync', 'synchronous_commit', 'full_page_writes', 'wal_level', 'shared_buffers'];

const at = new Date('2026-01-01T00:00:00Z');
const makeRows = (n: number): unknown[][] =>
  Array.from({ length: n }, (_, i) => [i + 1, 1 + (i % 1000), i % 10_000, 'EUR', 'paid', at]);
const big = makeRows(ROWS);
const small = makeRows(ONE_BY_ONE_ROWS);
const insertOne =
  'INSERT INTO payments (id, user_id, amount, currency, status, created_at) VALUES ($1, $2, $3, $4, $5, $6)';

interface ServerResult {
  settings: Record<string, string>;
  results: Record<string, { median: number; rounds: number[] }>;
  ratios: Record<string, number>;
}

async function measure(label: string, url: string): Promise<ServerResult> {
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  try {
    const { rows: settingRows } = await pool.query<{ name: string; setting: string }>(
      'SELECT name, current_setting(name) AS setting FROM pg_settings WHERE name = ANY($1) ORDER BY name',
      [SETTINGS],
    );
    const settings = Object.fromEntries(settingRows.map((r) => [r.name, r.setting]));
    await pool.query(`CREATE TABLE payments (
      id bigint PRIMARY KEY, user_id bigint NOT NULL, amount int NOT NULL,
      currency text NOT NULL, status text NOT NULL, created_at timestamptz NOT NULL)`);
    const timed = async (n: number, fn: () => Promise<unknown>): Promise<number> => {
      await pool.query('TRUNCATE payments');
      const start = performance.now();
      await fn();
      const elapsed = performance.now() - start;
      const { rows: c } = await pool.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM payments',
      );
      if (c[0]!.n !== n) throw new Error(`inserted ${c[0]!.n}, expected ${n}`);
      return (n * 1000) / elapsed;
    };
    const copy = (format: 'text' | 'binary') => () =>
      timed(ROWS, async () => {
        const client = await pool.connect();
        try {
          await copyRows(client, { table: 'payments', columns, types, format, rows: big });
        } finally {
          client.release();
        }
      });
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
      'COPY FROM STDIN (text)': copy('text'),
      'COPY FROM STDIN (binary)': copy('binary'),
    };
    for (const fn of Object.values(candidates)) await fn();
    const results = await interleave(candidates, ROUNDS);
    console.log(
      `\n${label}: ${Object.entries(settings)
        .map(([k, v]) => `${k}=${v}`)
        .join(', ')}`,
    );
    printRatios(
      `insert ${ROWS} rows (${ONE_BY_ONE_ROWS} one by one), rows/s, ${ROUNDS} rounds`,
      Object.fromEntries(Object.entries(results).map(([n, r]) => [n, r.median])),
      'rows/s',
      'COPY FROM STDIN (binary)',
    );
    const base = results['one-by-one (autocommit)']!.median;
    const ratios: Record<string, number> = {};
    for (const [name, r] of Object.entries(results)) {
      ratios[name] = r.median / base;
      console.log(`  ${name}: ${(r.median / base).toFixed(1)}x one-by-one (${label})`);
    }
    return { settings, results, ratios };
  } finally {
    await pool.end();
  }
}

let durable: DurableServer | undefined;
let shared: BenchDatabase | undefined;
try {
  durable = await startDurableServer();
  console.log(`durable server: PostgreSQL defaults, pid ${durable.pid}, ${durable.url}`);
  const durableResult = await measure('durable server (PostgreSQL defaults)', durable.url);
  await durable.stop();
  durable = undefined;
  shared = await benchDatabase();
  const fsyncOffResult = await measure('test server (fsync=off)', shared.url);
  writeResult('db-bulk-insert', {
    rows: ROWS,
    oneByOneRows: ONE_BY_ONE_ROWS,
    durable: durableResult,
    fsyncOff: fsyncOffResult,
  });
} finally {
  await durable?.stop();
  await shared?.drop();
}
