import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { AbortedError } from '../../errors/index.js';
import { createTestDatabase, postgresForTests } from '../../../test/helpers/services.js';
import { createPool, instrumentPool } from './instrumented-pool.js';
import { NPlusOneDetector } from '../instrument/n-plus-one.js';
import { SlowQueryLog } from '../instrument/slow-query-log.js';
import { NPlusOneError, PoolTimeoutError } from '../errors.js';

const server = await postgresForTests();

describe('instrumented pg pool on PostgreSQL', { skip: server.skip }, () => {
  let db: { url: string; drop: () => Promise<void> };
  before(async () => {
    db = await createTestDatabase(server.url);
    const setup = new pg.Client({ connectionString: db.url });
    await setup.connect();
    await setup.query('CREATE TABLE items (id int PRIMARY KEY, name text)');
    await setup.query("INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 100) g");
    await setup.end();
  });
  after(async () => {
    await db?.drop();
  });

  test('reports total, idle, in use and waiting connections and the acquire wait', async () => {
    const pool = await createPool({ connectionString: db.url, max: 2, leakDetectionMs: 0 });
    try {
      const a = await pool.connect();
      const b = await pool.connect();
      const third = pool.connect();
      await new Promise((r) => setImmediate(r));
      let m = pool.metrics();
      assert.equal(m.total, 2);
      assert.equal(m.inUse, 2);
      assert.equal(m.idle, 0);
      assert.equal(m.waiting, 1);
      a.release();
      const c = await third;
      b.release();
      c.release();
      m = pool.metrics();
      assert.equal(m.acquires, 3);
      assert.equal(m.inUse, 0);
      assert.equal(m.idle, 2);
      assert.equal(m.acquireWaitMs.count, 3);
      assert.ok(m.acquireWaitMs.max > 0);
      assert.ok(m.saturation >= 0);
    } finally {
      await pool.close();
    }
  });

  test('fails fast with PoolTimeoutError naming the holder when the pool stays exhausted', async () => {
    const pool = await createPool({ connectionString: db.url, max: 1, acquireTimeoutMs: 50 });
    try {
      const held = await pool.connect();
      const timedOut = pool.query('SELECT 1');
      await assert
        .rejects(timedOut, (error: unknown) => {
          assert.ok(error instanceof PoolTimeoutError);
          assert.equal(error.code, 'HP_ERR_DB_POOL_TIMEOUT');
          assert.match(
            error.message,
            /no database connection free after 50 ms: pool max 1, 1 in use/,
          );
          assert.match(error.message, /instrumented-pool\.test\.ts/);
          return true;
        })
        .finally(() => held.release());
      assert.equal(pool.metrics().acquireTimeouts, 1);
      // the abandoned request's late connection went back to the pool
      assert.deepEqual((await pool.query('SELECT 1 AS one')).rows, [{ one: 1 }]);
    } finally {
      await pool.close();
    }
  });

  test('gives up waiting for a connection when the signal aborts', async () => {
    const pool = await createPool({ connectionString: db.url, max: 1, acquireTimeoutMs: 0 });
    try {
      const held = await pool.connect();
      const controller = new AbortController();
      const waiting = pool.connect(controller.signal);
      controller.abort();
      await assert.rejects(waiting, (error: unknown) => {
        assert.ok(error instanceof AbortedError);
        assert.equal(error.code, 'HP_ERR_ABORTED');
        return true;
      });
      held.release();
      assert.deepEqual((await pool.query('SELECT 1 AS one')).rows, [{ one: 1 }]);
      await assert.rejects(pool.connect(AbortSignal.abort()), AbortedError);
    } finally {
      await pool.close();
    }
  });

  test('reports a client held past the leak threshold with the stack that acquired it', async () => {
    let now = 0;
    const leaks: string[][] = [];
    const pool = await createPool({
      connectionString: db.url,
      leakDetectionMs: 1000,
      clock: { now: () => now },
      onLeak: (report) => leaks.push(report.acquiredAt),
    });
    try {
      const client = await pool.connect();
      now = 999;
      assert.deepEqual(pool.checkLeaks(), []);
      now = 1500;
      const found = pool.checkLeaks();
      assert.equal(found.length, 1);
      assert.equal(found[0]!.heldMs, 1500);
      assert.match(found[0]!.acquiredAt[0]!, /instrumented-pool\.test\.ts/);
      assert.equal(pool.metrics().leaked, 1);
      assert.deepEqual(pool.checkLeaks(), [], 'each leak is reported once');
      assert.equal(leaks.length, 1);
      client.release();
      assert.equal(pool.metrics().leaked, 0);
    } finally {
      await pool.close();
    }
  });

  test('keeps per-fingerprint calls, rows, errors and timings across literal values', async () => {
    const pool = await createPool({ connectionString: db.url });
    try {
      for (let i = 1; i <= 5; i++) await pool.query(`SELECT * FROM items WHERE id = ${i}`);
      await pool.query('SELECT * FROM items WHERE id <= $1', [10]);
      await assert.rejects(pool.query('SELECT * FROM missing_table'));
      const top = pool.stats!.top(10, 'calls');
      const byId = top.find((e) => e.query === 'select * from items where id = ?')!;
      assert.equal(byId.calls, 5);
      assert.equal(byId.rows, 5);
      assert.ok(byId.meanMs > 0 && byId.p99Ms >= byId.p50Ms && byId.totalMs >= byId.maxMs);
      const range = top.find((e) => e.query === 'select * from items where id <= $1')!;
      assert.equal(range.rows, 10);
      const failed = top.find((e) => e.query === 'select * from missing_table')!;
      assert.equal(failed.errors, 1);
      assert.equal(pool.metrics().queryErrors, 1);
    } finally {
      await pool.close();
    }
  });

  test('sends parameterized queries as named statements, prepared once per connection', async () => {
    const pool = await createPool({ connectionString: db.url, max: 1 });
    try {
      for (let i = 1; i <= 3; i++) await pool.query('SELECT name FROM items WHERE id = $1', [i]);
      const { rows } = await pool.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM pg_prepared_statements WHERE statement = 'SELECT name FROM items WHERE id = $1'",
      );
      assert.equal(rows[0]!.n, 1);
    } finally {
      await pool.close();
    }
    const plain = await createPool({ connectionString: db.url, max: 1, prepare: false });
    try {
      await plain.query('SELECT name FROM items WHERE id = $1', [1]);
      const { rows } = await plain.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM pg_prepared_statements',
      );
      assert.equal(rows[0]!.n, 0);
    } finally {
      await plain.close();
    }
  });

  test('instruments a pool in place, callbacks included, and close() removes it', async () => {
    const raw = new pg.Pool({ connectionString: db.url, max: 2 });
    const pool = instrumentPool(raw);
    try {
      const result = await new Promise<pg.QueryResult>((resolve, reject) =>
        raw.query('SELECT $1::int AS x', [7], (err, res) => (err ? reject(err) : resolve(res))),
      );
      assert.deepEqual(result.rows, [{ x: 7 }]);
      const client = await raw.connect();
      await client.query('SELECT 1');
      client.release();
      assert.equal(pool.stats!.entries().length, 2);
      await pool.close();
      await raw.query('SELECT 2');
      assert.equal(pool.stats!.entries().length, 2, 'no longer measured after close()');
      assert.throws(() => instrumentPool(raw, { acquireTimeoutMs: -1 }), /acquireTimeoutMs/);
    } finally {
      await pool.close();
      await raw.end();
    }
  });

  test('publishes queries on hotpath:db:query only to subscribers', async () => {
    const pool = await createPool({ connectionString: db.url });
    const seen: string[] = [];
    const listener = (message: unknown): void => {
      seen.push((message as { fingerprint: string }).fingerprint);
    };
    try {
      await pool.query('SELECT 1');
      subscribe('hotpath:db:query', listener);
      await pool.query('SELECT id FROM items WHERE id = 3');
      assert.deepEqual(seen, ['select id from items where id = ?']);
    } finally {
      unsubscribe('hotpath:db:query', listener);
      await pool.close();
    }
  });

  test('warns about an N+1 query with route, fingerprint, count and call site', async () => {
    const reports: unknown[] = [];
    const detector = new NPlusOneDetector({ threshold: 3, onDetect: (r) => reports.push(r) });
    const pool = await createPool({ connectionString: db.url, nPlusOne: detector });
    try {
      await detector.run('GET /items', async () => {
        const { rows } = await pool.query<{ id: number }>('SELECT id FROM items LIMIT 4');
        for (const row of rows) await pool.query('SELECT name FROM items WHERE id = $1', [row.id]);
      });
      assert.equal(reports.length, 1);
      const report = reports[0] as Record<string, unknown>;
      assert.equal(report.route, 'GET /items');
      assert.equal(report.fingerprint, 'select name from items where id = $1');
      assert.equal(report.count, 3);
      assert.match(String(report.callSite), /instrumented-pool\.test\.ts/);
      // the same loop outside a request scope is not counted
      for (let i = 1; i <= 4; i++) await pool.query('SELECT name FROM items WHERE id = $1', [i]);
      assert.equal(detector.detected, 1);
    } finally {
      await pool.close();
    }
  });

  test('strict N+1 mode fails the query that crosses the threshold', async () => {
    const detector = new NPlusOneDetector({ threshold: 2, mode: 'strict' });
    const pool = await createPool({ connectionString: db.url, nPlusOne: detector });
    try {
      await detector.run('test', async () => {
        await pool.query('SELECT 1 FROM items WHERE id = 1');
        await assert.rejects(pool.query('SELECT 1 FROM items WHERE id = 2'), NPlusOneError);
      });
    } finally {
      await pool.close();
    }
  });

  test('logs a slow query once per interval with its plan, EXPLAIN ANALYZE rolled back', async () => {
    const raw = new pg.Pool({ connectionString: db.url, max: 3 });
    let now = 0;
    const log = new SlowQueryLog({
      pool: raw,
      thresholdMs: 0,
      intervalMs: 1000,
      explain: 'analyze',
      clock: { now: () => now },
    });
    const pool = instrumentPool(raw, { slowQueries: log });
    try {
      await pool.query('SELECT name FROM items WHERE id > $1', [90]);
      await pool.query('SELECT name FROM items WHERE id > $1', [95]);
      await log.flush();
      assert.equal(log.entries().length, 1);
      const entry = log.entries()[0]!;
      assert.equal(entry.query, 'select name from items where id > $1');
      assert.equal(entry.plan?.analyzed, true);
      assert.ok(entry.plan.executionMs !== undefined);
      now = 1000;
      await pool.query('SELECT name FROM items WHERE id > $1', [10]);
      await log.flush();
      assert.equal(log.entries().length, 2);
      assert.equal(log.entries()[1]!.suppressed, 1);
      // writes are explained without running them
      await pool.query('UPDATE items SET name = name WHERE id = $1', [1]);
      await log.flush();
      const update = log.entries()[2]!;
      assert.equal(update.plan?.analyzed, false);
      const { rows } = await raw.query('SELECT count(*)::int AS n FROM items');
      assert.deepEqual(rows, [{ n: 100 }]);
    } finally {
      await pool.close();
      await raw.end();
    }
  });
});
