/**
 * "Latest payment of each of 50 users" on real PostgreSQL: N+1 (one query per user) vs one
 * batched query, in three shapes: `= ANY($1)` + `DISTINCT ON`, and `unnest` + `CROSS JOIN
 * LATERAL ... LIMIT 1` through hotpath's BatchLoader and through DataLoader (rival).
 *
 *   npm run bench -- db --filter n-plus-one
 *
 * Every query goes through one instrumented pool (named statements on).
 */
import DataLoader from 'dataloader';
import {
  BatchLoader,
  buildAnyDistinctQuery,
  buildLateralQuery,
  createPool,
  lateralLoader,
} from 'hotpath/db';
import { interleave, printRatios, writeResult } from '../lib/report.js';
import { benchDatabase, fillPayments, throughput } from './setup.js';

const USERS = 2000;
const PER_USER = 100;
const BATCH = 50;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const ROUND_MS = 1000;

const db = await benchDatabase();
// Every shape goes through the same instrumented pool, so every parameterized query is a
// named (prepared) statement, as in the service.
const db2 = await createPool({ connectionString: db.url, max: 4 });
const pool = db2.pool;
try {
  console.log(`filling ${USERS * PER_USER} payments...`);
  await fillPayments(pool, USERS, PER_USER);
  const spec = {
    table: 'payments',
    keyColumn: 'user_id',
    orderBy: [{ column: 'created_at', direction: 'desc' as const }],
  };
  const single = 'SELECT * FROM payments WHERE user_id = $1 ORDER BY created_at DESC LIMIT 1';
  const anyDistinct = buildAnyDistinctQuery(spec);
  const lateral = buildLateralQuery(spec);
  let next = 0;
  const someUsers = (): number[] => {
    const ids: number[] = [];
    for (let i = 0; i < BATCH; i++) ids.push(1 + ((next++ * 37) % USERS));
    return ids;
  };

  const candidates = {
    'n+1 (50 queries)': async () => {
      for (const id of someUsers()) await pool.query(single, [id]);
    },
    'ANY + DISTINCT ON': async () => {
      await pool.query(anyDistinct, [someUsers()]);
    },
    'LATERAL, hotpath BatchLoader': async () => {
      const loader = lateralLoader<number, Record<string, unknown>>(pool, spec);
      await Promise.all(someUsers().map((id) => loader.load(id)));
    },
    'LATERAL, DataLoader': async () => {
      const loader = new DataLoader<number, Record<string, unknown>[]>(async (ids) => {
        const { rows } = await pool.query(lateral, [ids]);
        const byId = new Map<string, Record<string, unknown>[]>();
        for (const row of rows) {
          const key = String(row.__key);
          let list = byId.get(key);
          if (list === undefined) byId.set(key, (list = []));
          list.push(row);
        }
        return ids.map((id) => byId.get(String(id)) ?? []);
      });
      await Promise.all(someUsers().map((id) => loader.load(id)));
    },
  };
  // warm-up: plans cached, pages in shared buffers
  for (const fn of Object.values(candidates)) await throughput(fn, 300);
  const results = await interleave(
    Object.fromEntries(
      Object.entries(candidates).map(([n, fn]) => [n, () => throughput(fn, ROUND_MS)]),
    ),
    ROUNDS,
  );
  const medians = Object.fromEntries(Object.entries(results).map(([n, r]) => [n, r.median]));
  printRatios(
    `latest payment of ${BATCH} users (${USERS * PER_USER} payments), requests/s, ${ROUNDS} rounds`,
    medians,
    'req/s',
    'LATERAL, hotpath BatchLoader',
  );
  // BatchLoader alone vs DataLoader, no database: the per-key cost of batching
  const noop = { batch: async (keys: number[]) => keys };
  const loaderOnly = await interleave(
    {
      'BatchLoader (no db)': () =>
        throughput(() => new BatchLoader<number, number>(noop).loadMany(someUsers()), 300),
      'DataLoader (no db)': () =>
        throughput(() => new DataLoader<number, number>(async (k) => k).loadMany(someUsers()), 300),
    },
    ROUNDS,
  );
  printRatios(
    `batching ${BATCH} keys without a database, batches/s`,
    Object.fromEntries(Object.entries(loaderOnly).map(([n, r]) => [n, r.median])),
    'batches/s',
    'BatchLoader (no db)',
  );
  writeResult('db-n-plus-one', {
    users: USERS,
    perUser: PER_USER,
    batch: BATCH,
    results,
    loaderOnly,
  });
} finally {
  await db2.close();
  await db.drop();
}
