import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import type pg from 'pg';
import { usePaymentsTable } from '../../../test/helpers/payments-table.js';
import { postgresForTests } from '../../../test/helpers/services.js';
import { BatchLoader } from './batch-loader.js';
import { copyRows, insertMultiRow, insertUnnest } from './bulk-insert.js';
import { checkKeysetIndex, decodeCursor, encodeCursor, keysetPage } from './keyset.js';
import { buildAnyDistinctQuery, buildLateralQuery, lateralLoader } from './lateral.js';
import { InvalidCursorError, MissingIndexError } from '../errors.js';

const server = await postgresForTests();

describe('query helpers on PostgreSQL', { skip: server.skip }, () => {
  const paymentsPool = usePaymentsTable(server.url);
  let pool: pg.Pool;
  before(() => {
    pool = paymentsPool();
  });

  test('keyset pages walk every row of a user once, in order, then stop', async () => {
    const orderBy = [
      { column: 'created_at', direction: 'desc' as const },
      { column: 'id', direction: 'desc' as const },
    ];
    const seen: number[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await keysetPage<{ id: string }>(pool, {
        table: 'payments',
        where: { user_id: 7 },
        orderBy,
        limit: 150,
        cursor,
      });
      seen.push(...page.rows.map((r) => Number(r.id)));
      cursor = page.nextCursor ?? undefined;
      pages++;
    } while (cursor !== undefined);
    assert.equal(seen.length, 400);
    assert.equal(pages, 3);
    assert.deepEqual(
      seen,
      [...seen].sort((a, b) => b - a),
    );
    assert.equal(new Set(seen).size, 400);
  });

  test('cursors round-trip dates and reject tampering', () => {
    const date = new Date('2026-01-02T03:04:05.000Z');
    assert.deepEqual(decodeCursor(encodeCursor([date, 42]), 2), [date, 42]);
    assert.throws(() => decodeCursor('not a cursor!', 2), InvalidCursorError);
    assert.throws(() => decodeCursor(encodeCursor([1]), 2), InvalidCursorError);
  });

  test('checkKeysetIndex finds the matching index or names the one to create', async () => {
    const name = await checkKeysetIndex(pool, {
      table: 'payments',
      where: { user_id: 1 },
      orderBy: [
        { column: 'created_at', direction: 'desc' },
        { column: 'id', direction: 'desc' },
      ],
    });
    assert.equal(name, 'payments_user_created');
    await assert.rejects(
      checkKeysetIndex(pool, {
        table: 'payments',
        orderBy: [{ column: 'amount' }, { column: 'id' }],
      }),
      (error: unknown) => {
        assert.ok(error instanceof MissingIndexError);
        assert.equal(
          error.suggestion,
          'CREATE INDEX CONCURRENTLY ON "payments" ("amount" ASC, "id" ASC)',
        );
        return true;
      },
    );
  });

  test('the LATERAL loader answers many keys in one query, same rows as DISTINCT ON', async () => {
    const spec = {
      table: 'payments',
      keyColumn: 'user_id',
      orderBy: [{ column: 'created_at', direction: 'desc' as const }],
    };
    const loader = lateralLoader<number, { id: string }>(pool, spec);
    const users = [1, 2, 3, 999];
    const results = await Promise.all(users.map((u) => loader.load(u)));
    assert.equal(loader.batches, 1);
    assert.deepEqual(
      results.map((r) => r?.map((p) => Number(p.id))),
      [[19951], [19952], [19953], []],
    );
    const distinct = await pool.query(buildAnyDistinctQuery(spec), [users]);
    assert.deepEqual(
      distinct.rows.map((r) => Number(r.id)).sort(),
      ['19951', '19952', '19953'].map(Number),
    );
    const plan = await pool.query(`EXPLAIN ${buildLateralQuery(spec)}`, [users]);
    assert.match(
      plan.rows.map((r) => r['QUERY PLAN']).join('\n'),
      /Index Scan Backward using payments_user_created/,
    );
  });

  test('BatchLoader dedupes keys, splits at maxBatchSize and retries a failed batch', async () => {
    const calls: number[][] = [];
    let fail = true;
    const loader = new BatchLoader<number, string>({
      maxBatchSize: 3,
      batch: async (keys) => {
        calls.push(keys);
        if (fail) throw new Error('down');
        return keys.map((k) => `v${k}`);
      },
    });
    await assert.rejects(loader.load(1), /down/);
    fail = false;
    assert.deepEqual(await loader.loadMany([1, 2, 2, 3, 4]), ['v1', 'v2', 'v2', 'v3', 'v4']);
    assert.deepEqual(calls, [[1], [1, 2, 3], [4]]);
  });

  test('multi-row, unnest and COPY insert the same rows, COPY escaping tabs and newlines', async () => {
    await pool.query('CREATE TABLE bulk (id int PRIMARY KEY, label text, at timestamptz)');
    const at = new Date('2026-05-01T00:00:00.000Z');
    const rows = (from: number) =>
      Array.from({ length: 3000 }, (_, i) => [
        from + i,
        i % 7 === 0 ? null : `a\tb\\c\nd ${i}`,
        at,
      ]);
    assert.equal(
      await insertMultiRow(pool, {
        table: 'bulk',
        columns: ['id', 'label', 'at'],
        rows: rows(0),
        chunkSize: 1000,
      }),
      3000,
    );
    assert.equal(
      await insertUnnest(pool, {
        table: 'bulk',
        columns: ['id', 'label', 'at'],
        types: ['int', 'text', 'timestamptz'],
        rows: rows(10_000),
      }),
      3000,
    );
    const client = await pool.connect();
    try {
      assert.equal(
        await copyRows(client, {
          table: 'bulk',
          columns: ['id', 'label', 'at'],
          rows: rows(20_000),
        }),
        3000,
      );
    } finally {
      client.release();
    }
    const { rows: check } = await pool.query(
      `SELECT count(*)::int AS n, count(DISTINCT label)::int AS labels, count(*) FILTER (WHERE label IS NULL)::int AS nulls,
              bool_and(at = '2026-05-01T00:00:00Z') AS same_at FROM bulk`,
    );
    assert.deepEqual(check[0], { n: 9000, labels: 2571, nulls: 3 * 429, same_at: true });
    const { rows: one } = await pool.query('SELECT label FROM bulk WHERE id IN (1, 10001, 20001)');
    assert.deepEqual(
      one.map((r) => r.label),
      ['a\tb\\c\nd 1', 'a\tb\\c\nd 1', 'a\tb\\c\nd 1'],
    );
  });
});
