import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createTestDatabase, postgresForTests } from '../../../test/helpers/services.js';
import type { Database } from '../client/database.js';
import { startEmbedded } from '../embedded/embedded-database.js';
import { instrumentDatabase } from './instrumented-database.js';
import { NPlusOneDetector } from './n-plus-one.js';
import { connectPostgres } from '../client/postgres-database.js';
import { SlowQueryLog } from './slow-query-log.js';
import { NPlusOneError } from '../errors.js';

const server = await postgresForTests();

function suite(
  name: string,
  open: () => Promise<{ db: Database; cleanup: () => Promise<void> }>,
  skip: string | false,
) {
  describe(name, { skip }, () => {
    let inner: Database;
    let cleanup: () => Promise<void>;
    before(async () => {
      ({ db: inner, cleanup } = await open());
      await inner.query('CREATE TABLE items (id int PRIMARY KEY, name text)');
      await inner.query("INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 50) g");
    });
    after(async () => {
      await inner.close();
      await cleanup();
    });

    test('fingerprints, times and counts queries, transactions included', async () => {
      const db = instrumentDatabase(inner);
      for (let i = 1; i <= 3; i++) await db.query(`SELECT name FROM items WHERE id = ${i}`);
      await db.transaction(async (tx) => {
        await tx.query('UPDATE items SET name = $1 WHERE id = $2', ['renamed', 1]);
      });
      await assert.rejects(db.query('SELECT * FROM nowhere'));
      const byQuery = new Map(db.stats!.entries().map((e) => [e.query, e]));
      assert.equal(byQuery.get('select name from items where id = ?')?.calls, 3);
      assert.equal(byQuery.get('select name from items where id = ?')?.rows, 3);
      assert.equal(byQuery.get('update items set name = $1 where id = $2')?.rows, 1);
      assert.equal(byQuery.get('select * from nowhere')?.errors, 1);
      assert.equal(db.kind, inner.kind);
    });

    test('detects N+1 per request and throws in strict mode', async () => {
      const reports: string[] = [];
      const warn = instrumentDatabase(inner, {
        nPlusOne: new NPlusOneDetector({
          threshold: 3,
          onDetect: (r) => reports.push(`${r.route} ${r.count}`),
        }),
      });
      const strictDetector = new NPlusOneDetector({ threshold: 3, mode: 'strict' });
      const strict = instrumentDatabase(inner, { nPlusOne: strictDetector });
      const detector = new NPlusOneDetector({
        threshold: 3,
        onDetect: (r) => reports.push(`${r.route} ${r.count}`),
      });
      const scoped = instrumentDatabase(inner, { nPlusOne: detector });
      await detector.run('GET /items', async () => {
        for (let i = 1; i <= 4; i++)
          await scoped.query('SELECT name FROM items WHERE id = $1', [i]);
      });
      assert.deepEqual(reports, ['GET /items 3']);
      for (let i = 1; i <= 4; i++) await warn.query('SELECT name FROM items WHERE id = $1', [i]);
      assert.equal(reports.length, 1, 'outside a request nothing is counted');
      await strictDetector.run('test', async () => {
        await strict.query('SELECT 1 FROM items WHERE id = $1', [1]);
        await strict.query('SELECT 1 FROM items WHERE id = $1', [2]);
        await assert.rejects(strict.query('SELECT 1 FROM items WHERE id = $1', [3]), NPlusOneError);
      });
    });

    test('logs slow queries with a plain EXPLAIN plan', async () => {
      const log = new SlowQueryLog({ pool: inner, thresholdMs: 0, explain: 'analyze' });
      const db = instrumentDatabase(inner, { slowQueries: log });
      await db.query('SELECT name FROM items WHERE id > $1', [10]);
      await log.flush();
      const [entry] = log.entries();
      assert.equal(entry?.query, 'select name from items where id > $1');
      assert.equal(entry?.planError, undefined);
      assert.equal(entry?.plan?.analyzed, false, 'ANALYZE needs a pg pool: plain EXPLAIN instead');
      assert.match(entry!.plan!.plan['Node Type'], /Scan/);
    });
  });
}

suite(
  'instrumented embedded database (PGlite)',
  async () => ({ db: await startEmbedded({ dataDir: 'memory://' }), cleanup: async () => {} }),
  false,
);

suite(
  'instrumented PostgreSQL server database',
  async () => {
    const created = await createTestDatabase(server.url);
    return { db: await connectPostgres(created.url), cleanup: created.drop };
  },
  server.skip,
);
