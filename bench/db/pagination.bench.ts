/**
 * A deep page of payments ordered by (created_at, id) on real PostgreSQL: `OFFSET 90000 LIMIT
 * 20` vs hotpath's keyset page started from the cursor of row 90000 (same 20 rows).
 *
 * Both go through one instrumented pool, so both are named (prepared) statements.
 *
 *   npm run bench -- db --filter pagination
 */
import {
  buildKeysetQuery,
  checkKeysetIndex,
  createPool,
  encodeCursor,
  keysetPage,
} from 'hotpath/db';
import { interleave, printRatios, writeResult } from '../lib/report.js';
import { benchDatabase, fillPayments, throughput } from './setup.js';

const OFFSET = 90_000;
const LIMIT = 20;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);

const db = await benchDatabase();
const instrumented = await createPool({ connectionString: db.url, max: 2 });
const pool = instrumented.pool;
try {
  console.log('filling 100000 payments...');
  await fillPayments(pool, 1000, 100);
  const orderBy = [{ column: 'created_at' }, { column: 'id' }];
  console.log(`index used: ${await checkKeysetIndex(pool, { table: 'payments', orderBy })}`);
  const offsetSql = 'SELECT * FROM payments ORDER BY created_at, id OFFSET $1 LIMIT $2';
  const { rows: before } = await pool.query(
    'SELECT created_at, id FROM payments ORDER BY created_at, id OFFSET $1 LIMIT 1',
    [OFFSET - 1],
  );
  const cursor = encodeCursor([before[0]!.created_at, before[0]!.id]);
  const viaOffset = await pool.query(offsetSql, [OFFSET, LIMIT]);
  const viaKeyset = await keysetPage(pool, { table: 'payments', orderBy, limit: LIMIT, cursor });
  if (JSON.stringify(viaOffset.rows) !== JSON.stringify(viaKeyset.rows)) {
    throw new Error('OFFSET and keyset pages differ');
  }
  console.log(
    `keyset query: ${buildKeysetQuery({ table: 'payments', orderBy, limit: LIMIT, cursor }).text}`,
  );
  const candidates = {
    [`OFFSET ${OFFSET}`]: () => throughput(() => pool.query(offsetSql, [OFFSET, LIMIT]), 1000),
    'keyset (hotpath)': () =>
      throughput(
        () => keysetPage(pool, { table: 'payments', orderBy, limit: LIMIT, cursor }),
        1000,
      ),
  };
  for (const fn of Object.values(candidates)) await fn();
  const results = await interleave(candidates, ROUNDS);
  printRatios(
    `page of ${LIMIT} at offset ${OFFSET} of 100000 payments, pages/s, ${ROUNDS} rounds`,
    Object.fromEntries(Object.entries(results).map(([n, r]) => [n, r.median])),
    'pages/s',
    'keyset (hotpath)',
  );
  writeResult('db-pagination', { offset: OFFSET, limit: LIMIT, results });
} finally {
  await instrumented.close();
  await db.drop();
}
