import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { connectPostgres, migrate, type Database } from 'hotpath/db';
import { migrations } from '../../service/migrations/index.js';
import { createTestDatabase, postgresForTests } from '../helpers/services.js';

const pg = await postgresForTests();

// The service's hot queries, as the repository sends them, with sample parameters inlined.
const hotQueries: [string, string][] = [
  ['payment by id', `SELECT * FROM payments WHERE id = '01a20c8a-d1c0-7000-8dee-fbb25d529e30'`],
  ['first page of a user', 'SELECT * FROM payments WHERE user_id = 17 ORDER BY id DESC LIMIT 21'],
  [
    'next page of a user (keyset)',
    `SELECT * FROM payments WHERE user_id = 17 AND id < 'ffffffff-0000-7000-8000-000000000000' ORDER BY id DESC LIMIT 21`,
  ],
  [
    'user summary',
    'SELECT currency, status, count(*), sum(amount) FROM payments WHERE user_id = 17 GROUP BY currency, status',
  ],
  ['idempotency key lookup', `SELECT * FROM payments WHERE idempotency_key = 'key-123'`],
  [
    'stale pending sweep',
    `SELECT * FROM payments WHERE status = 'pending' AND created_at < now() - interval '1 minute' ORDER BY created_at LIMIT 100`,
  ],
];

describe('the hot queries use indexes on real PostgreSQL', { skip: pg.skip }, () => {
  let db: Database;
  let drop: () => Promise<void>;
  before(async () => {
    const created = await createTestDatabase(pg.url);
    drop = created.drop;
    db = await connectPostgres(created.url);
    await migrate(db, migrations);
    // 100,000 payments over 2,000 users, a few pending: enough for the planner to prefer indexes.
    await db.query(`
      INSERT INTO payments (id, user_id, amount, currency, status, idempotency_key, created_at)
      SELECT gen_random_uuid(), 1 + (g % 2000), 100 + g % 5000, 'EUR',
             CASE WHEN g % 1000 = 0 THEN 'pending' ELSE 'authorized' END,
             'key-' || g, now() - (g || ' seconds')::interval
      FROM generate_series(1, 100000) AS g`);
    await db.query('ANALYZE payments');
  });
  after(async () => {
    await db.close();
    await drop();
  });

  for (const [name, sql] of hotQueries) {
    test(`${name} is served by an index, not a sequential scan`, async () => {
      const { rows } = await db.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${sql}`);
      const plan = rows.map((r) => r['QUERY PLAN']).join('\n');
      assert.doesNotMatch(plan, /Seq Scan on payments/, plan);
      assert.match(plan, /Index (Only )?Scan|Bitmap Index Scan/, plan);
    });
  }
});
