/**
 * The N+1 and pagination comparisons on embedded PGlite (in its worker thread), for the
 * embedded default of the reference service. Labelled "embedded, not representative": PGlite
 * runs one query at a time in one process, so its figures say nothing about a server.
 *
 *   npm run bench -- db --filter embedded
 */
import { buildLateralQuery, encodeCursor, keysetPage, startEmbedded } from 'hotpath/db';
import { interleave, printRatios, writeResult } from '../lib/report.js';
import { throughput } from './setup.js';

const USERS = 500;
const PER_USER = 40;
const OFFSET = 18_000;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);

const db = await startEmbedded({ dataDir: 'memory://' });
try {
  console.log(`filling ${USERS * PER_USER} payments in PGlite...`);
  await db.query(`CREATE TABLE payments (id bigint PRIMARY KEY, user_id bigint NOT NULL,
    amount int NOT NULL, created_at timestamptz NOT NULL)`);
  await db.query(
    `INSERT INTO payments SELECT g, 1 + g % $1, g % 1000, timestamptz '2026-01-01' + g * interval '1 second'
     FROM generate_series(1, $2::int) g`,
    [USERS, USERS * PER_USER],
  );
  await db.query('CREATE INDEX payments_user_created ON payments (user_id, created_at)');
  await db.query('CREATE INDEX payments_created_id ON payments (created_at, id)');
  await db.query('ANALYZE payments');
  const spec = {
    table: 'payments',
    keyColumn: 'user_id',
    orderBy: [{ column: 'created_at', direction: 'desc' as const }],
  };
  const lateral = buildLateralQuery(spec);
  const single = 'SELECT * FROM payments WHERE user_id = $1 ORDER BY created_at DESC LIMIT 1';
  let next = 0;
  const users = (): number[] => Array.from({ length: 50 }, () => 1 + ((next++ * 37) % USERS));
  const nPlusOne = await interleave(
    {
      'n+1 (50 queries)': () =>
        throughput(async () => {
          for (const id of users()) await db.query(single, [id]);
        }, 1000),
      'LATERAL batch': () => throughput(() => db.query(lateral, [users()]), 1000),
    },
    ROUNDS,
  );
  printRatios(
    'embedded, not representative: latest payment of 50 users, requests/s',
    Object.fromEntries(Object.entries(nPlusOne).map(([n, r]) => [n, r.median])),
    'req/s',
    'LATERAL batch',
  );
  const orderBy = [{ column: 'created_at' }, { column: 'id' }];
  const { rows } = await db.query<{ created_at: Date; id: string }>(
    'SELECT created_at, id FROM payments ORDER BY created_at, id OFFSET $1 LIMIT 1',
    [OFFSET - 1],
  );
  const cursor = encodeCursor([rows[0]!.created_at, rows[0]!.id]);
  const pages = await interleave(
    {
      [`OFFSET ${OFFSET}`]: () =>
        throughput(
          () =>
            db.query('SELECT * FROM payments ORDER BY created_at, id OFFSET $1 LIMIT 20', [OFFSET]),
          1000,
        ),
      keyset: () =>
        throughput(() => keysetPage(db, { table: 'payments', orderBy, limit: 20, cursor }), 1000),
    },
    ROUNDS,
  );
  printRatios(
    `embedded, not representative: page of 20 at offset ${OFFSET} of ${USERS * PER_USER}, pages/s`,
    Object.fromEntries(Object.entries(pages).map(([n, r]) => [n, r.median])),
    'pages/s',
    'keyset',
  );
  writeResult('db-embedded', { label: 'embedded, not representative', nPlusOne, pages });
} finally {
  await db.close();
}
