import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createTestDatabase, postgresForTests } from '../../../test/helpers/services.js';
import type { Database } from '../index.js';
import {
  ConnectError,
  MigrationError,
  QueryError,
  connectPostgres,
  migrate,
  splitStatements,
  startEmbedded,
} from '../index.js';

const pg = await postgresForTests();

const migrations = [
  {
    version: 1,
    name: 'items',
    sql: 'CREATE TABLE items (id bigint PRIMARY KEY, name text UNIQUE NOT NULL);',
  },
  {
    version: 2,
    name: 'items_count',
    sql: `CREATE FUNCTION item_count() RETURNS bigint AS $$ SELECT count(*) FROM items; $$ LANGUAGE sql;
          -- a comment; with a semicolon
          CREATE INDEX items_name ON items (name);`,
  },
];

function suite(
  name: string,
  open: () => Promise<{ db: Database; cleanup: () => Promise<void> }>,
  skip: string | false,
) {
  describe(name, { skip }, () => {
    let db: Database;
    let cleanup: () => Promise<void>;
    before(async () => {
      ({ db, cleanup } = await open());
    });
    after(async () => {
      await db.close();
      await cleanup();
    });

    test('migrations apply once, in order, and report the current version', async () => {
      const first = await migrate(db, migrations);
      assert.deepEqual(first, { applied: [1, 2], current: 2 });
      const second = await migrate(db, migrations);
      assert.deepEqual(second, { applied: [], current: 2 });
    });

    test('a migration changed after it was applied is refused', async () => {
      const changed = [{ ...migrations[0]!, sql: migrations[0]!.sql + ' ' }];
      await assert.rejects(
        migrate(db, changed),
        (e: unknown) => e instanceof MigrationError && e.version === 1,
      );
    });

    test('queries take $n parameters and return int8 as numbers', async () => {
      await db.query('INSERT INTO items (id, name) VALUES ($1, $2), ($3, $4)', [
        1,
        'one',
        2,
        'two',
      ]);
      const { rows, rowCount } = await db.query<{ id: number; name: string }>(
        'SELECT id, name FROM items WHERE id = ANY($1) ORDER BY id',
        [[1, 2]],
      );
      assert.equal(rowCount, 2);
      assert.deepEqual(rows, [
        { id: 1, name: 'one' },
        { id: 2, name: 'two' },
      ]);
      const count = await db.query<{ n: number }>('SELECT item_count() AS n');
      assert.equal(count.rows[0]?.n, 2);
    });

    test('a unique violation is a QueryError with SQLSTATE 23505', async () => {
      await assert.rejects(
        db.query('INSERT INTO items (id, name) VALUES ($1, $2)', [3, 'one']),
        (e: unknown) => {
          assert.ok(e instanceof QueryError);
          assert.equal(e.code, 'HP_ERR_DB_QUERY');
          assert.equal(e.sqlState, '23505');
          return true;
        },
      );
    });

    test('a transaction commits on success and rolls back on a throw', async () => {
      await db.transaction(async (tx) => {
        await tx.query('INSERT INTO items (id, name) VALUES ($1, $2)', [10, 'ten']);
      });
      await assert.rejects(
        db.transaction(async (tx) => {
          await tx.query('INSERT INTO items (id, name) VALUES ($1, $2)', [11, 'eleven']);
          throw new Error('abort');
        }),
        /abort/,
      );
      const { rows } = await db.query<{ id: number }>(
        'SELECT id FROM items WHERE id >= 10 ORDER BY id',
      );
      assert.deepEqual(
        rows.map((r) => r.id),
        [10],
      );
    });

    test('ping answers', async () => {
      await db.ping();
    });
  });
}

suite(
  'embedded database (PGlite in a worker thread)',
  async () => ({ db: await startEmbedded({ dataDir: 'memory://' }), cleanup: async () => {} }),
  false,
);

suite(
  'PostgreSQL server database (pg)',
  async () => {
    const created = await createTestDatabase(pg.url);
    return { db: await connectPostgres(created.url), cleanup: created.drop };
  },
  pg.skip,
);

describe('embedded database', () => {
  test('keeps the event loop free while a long query runs', async () => {
    const db = await startEmbedded({ dataDir: 'memory://' });
    try {
      let ticks = 0;
      let running = true;
      const tick = () => {
        ticks++;
        if (running) setImmediate(tick);
      };
      setImmediate(tick);
      await db.query('SELECT count(*) FROM generate_series(1, 300000)');
      running = false;
      // On the calling thread PGlite would let no callback run until the query ended.
      assert.ok(ticks > 10, `event loop turned ${ticks} times during the query`);
    } finally {
      await db.close();
    }
  });

  test('runs a query issued during a transaction after the transaction ends', async () => {
    const db = await startEmbedded({ dataDir: 'memory://' });
    try {
      await db.query('CREATE TABLE t (id int)');
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      const tx = db.transaction(async (t) => {
        await t.query('INSERT INTO t VALUES (1)');
        await gate;
      });
      const outside = db.query<{ n: number }>('SELECT count(*)::int AS n FROM t');
      release();
      await tx;
      assert.equal((await outside).rows[0]?.n, 1);
    } finally {
      await db.close();
    }
  });

  test('rejects queries after close', async () => {
    const db = await startEmbedded({ dataDir: 'memory://' });
    await db.close();
    await assert.rejects(db.query('SELECT 1'), { code: 'HP_ERR_CLOSED' });
  });
});

describe('connectPostgres', () => {
  test('names the unreachable host in a ConnectError', async () => {
    await assert.rejects(connectPostgres('postgres://nobody@127.0.0.1:1/none'), (e: unknown) => {
      assert.ok(e instanceof ConnectError);
      assert.match(e.message, /127\.0\.0\.1:1/);
      return true;
    });
  });
});

describe('splitStatements', () => {
  test('splits on statement ends but not inside quotes, comments or dollar bodies', () => {
    assert.deepEqual(splitStatements("SELECT ';'; -- x;\nSELECT $a$ ; $a$; /* ; */ SELECT 1"), [
      "SELECT ';'",
      '-- x;\nSELECT $a$ ; $a$',
      '/* ; */ SELECT 1',
    ]);
  });
});
