import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import type pg from 'pg';
import { usePaymentsTable } from '../../../test/helpers/payments-table.js';
import { postgresForTests } from '../../../test/helpers/services.js';
import { IndexAdvisor, filterColumns } from './index-advisor.js';

const server = await postgresForTests();

describe('index advice on PostgreSQL', { skip: server.skip }, () => {
  const paymentsPool = usePaymentsTable(server.url);
  let pool: pg.Pool;
  before(() => {
    pool = paymentsPool();
  });

  test('index advice proposes an index for a selective seq scan and HypoPG confirms it', async () => {
    await pool.query('CREATE EXTENSION IF NOT EXISTS hypopg');
    const advisor = new IndexAdvisor();
    const advice = await advisor.advise(pool, 'SELECT * FROM payments WHERE amount = $1', [500]);
    assert.equal(advice.length, 1);
    assert.deepEqual(advice[0]!.columns, ['amount']);
    assert.equal(advice[0]!.statement, 'CREATE INDEX CONCURRENTLY ON "payments" ("amount")');
    assert.equal(advice[0]!.confirmed, true);
    assert.ok(advice[0]!.costBefore / advice[0]!.costAfter! >= 10);
    // served by an index already: nothing to advise; nor for an unselective filter
    assert.deepEqual(
      await advisor.advise(
        pool,
        'SELECT * FROM payments WHERE user_id = $1 ORDER BY created_at',
        [3],
      ),
      [],
    );
    assert.deepEqual(
      await advisor.advise(pool, 'SELECT * FROM payments WHERE amount > $1', [10]),
      [],
    );
    const { rows } = await pool.query(
      "SELECT count(*)::int AS n FROM pg_indexes WHERE tablename = 'payments'",
    );
    assert.equal(rows[0]!.n, 2, 'advice is never applied');
  });

  test('filterColumns puts equality columns first and one range column last', () => {
    const known = new Set(['user_id', 'status', 'created_at', 'amount']);
    assert.deepEqual(
      filterColumns(
        "((created_at > '2026-01-01'::timestamptz) AND (user_id = 4) AND ((status)::text = 'paid'::text))",
        known,
      ),
      ['user_id', 'status', 'created_at'],
    );
  });
});
