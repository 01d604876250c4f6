/**
 * Named (prepared) vs unnamed statements on real PostgreSQL at concurrency 1 and 16: a payments
 * query joining users, with the plan cached per connection once named. hotpath's instrumented
 * pool names every parameterized query by itself (`prepare: true`, the default).
 *
 *   npm run bench -- db --filter prepared
 */
import { createPool } from 'hotpath/db';
import pg from 'pg';
import { interleave, printRatios, writeResult } from '../lib/report.js';
import { benchDatabase, fillPayments, throughput } from './setup.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const sql = `SELECT p.id, p.amount, p.currency, p.status, u.name, u.country
  FROM payments p JOIN users u ON u.id = p.user_id
  WHERE p.user_id = $1 AND p.status = $2 AND p.currency = $3 AND p.created_at > $4
  ORDER BY p.created_at DESC LIMIT 10`;

const db = await benchDatabase();
const raw = new pg.Pool({ connectionString: db.url, max: 16 });
const unprepared = await createPool({ connectionString: db.url, max: 16, prepare: false });
const prepared = await createPool({ connectionString: db.url, max: 16 });
try {
  console.log('filling 100000 payments...');
  await fillPayments(raw, 1000, 100);
  let i = 0;
  const params = (): unknown[] => [1 + (i++ % 1000), 'paid', 'EUR', '2026-01-01'];
  const all: Record<string, unknown> = {};
  for (const concurrency of [1, 16]) {
    const candidates = {
      'pg unnamed': () => throughput(() => raw.query(sql, params()), 1000, concurrency),
      'pg named': () =>
        throughput(() => raw.query({ name: 'q', text: sql, values: params() }), 1000, concurrency),
      'hotpath prepare: false': () =>
        throughput(() => unprepared.query(sql, params()), 1000, concurrency),
      'hotpath prepare: true': () =>
        throughput(() => prepared.query(sql, params()), 1000, concurrency),
    };
    for (const fn of Object.values(candidates)) await fn();
    const results = await interleave(candidates, ROUNDS);
    printRatios(
      `payments join users, concurrency ${concurrency}, queries/s, ${ROUNDS} rounds`,
      Object.fromEntries(Object.entries(results).map(([n, r]) => [n, r.median])),
      'q/s',
      'hotpath prepare: true',
    );
    all[`c${concurrency}`] = results;
  }
  writeResult('db-prepared', all);
} finally {
  await prepared.close();
  await unprepared.close();
  await raw.end();
  await db.drop();
}
