import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, test } from 'node:test';
import pg from 'pg';
import { instrumentPool } from './instrumented-pool.js';
import { NPlusOneDetector } from '../instrument/n-plus-one.js';
import { measuredText } from './pool-query.js';
import { INTERNAL_SQL } from '../client/sql-client.js';
import { NPlusOneError } from '../errors.js';

type Callback = (error: Error | null, result?: unknown) => void;

/** What the stub client was asked to run. */
const sent: unknown[] = [];
/** When set, the next query fails with it, or (`'socket'`) the client emits an error instead. */
let failNext: Error | 'socket' | undefined;

/** A pg Client look-alike answering on the next turn, recording what it was sent. */
class StubClient extends EventEmitter {
  _queryable = true;
  _ending = false;
  released: unknown[] = [];
  connect(callback?: (error?: Error) => void): Promise<void> | undefined {
    if (callback === undefined) return Promise.resolve();
    process.nextTick(callback);
    return undefined;
  }
  query(config: unknown, values?: unknown, callback?: unknown): unknown {
    if (typeof config === 'object' && config !== null && 'submit' in config) return config;
    const cb = (typeof values === 'function' ? values : callback) as Callback | undefined;
    sent.push(typeof values === 'function' || values === undefined ? config : [config, values]);
    const failure = failNext;
    failNext = undefined;
    const result = { rows: [{ one: 1 }], rowCount: 1 };
    if (failure === 'socket') {
      // the connection dies mid-query: pg emits 'error' and never answers
      setImmediate(() => this.emit('error', new Error('connection terminated')));
      if (cb === undefined) return new Promise(() => {});
      return undefined;
    }
    if (cb !== undefined) {
      setImmediate(() => (failure ? cb(failure) : cb(null, result)));
      return undefined;
    }
    return new Promise((resolve, reject) =>
      setImmediate(() => (failure ? reject(failure) : resolve(result))),
    );
  }
  end(callback?: () => void): Promise<void> {
    callback?.();
    return Promise.resolve();
  }
}

function stubPool(): pg.Pool {
  return new pg.Pool({ Client: StubClient as never, max: 2 });
}

describe('instrumented query path over a stub driver', () => {
  test('measuredText takes strings and config texts, not submittables or internal SQL', () => {
    assert.equal(measuredText('SELECT 1'), 'SELECT 1');
    assert.equal(measuredText({ text: 'SELECT 2', rowMode: 'array' }), 'SELECT 2');
    assert.equal(measuredText({ submit: () => {}, text: 'COPY t FROM STDIN' }), undefined);
    assert.equal(measuredText(`${INTERNAL_SQL}EXPLAIN SELECT 1`), undefined);
    assert.equal(measuredText(null), undefined);
  });

  test('pool.query sends parameterized text as a named statement and plain text as is', async () => {
    const db = instrumentPool(stubPool(), { leakDetectionMs: 0 });
    sent.length = 0;
    try {
      await db.query('SELECT $1::int', [5]);
      await db.query('SELECT 1');
      await db.pool.query({ text: 'SELECT $1::text', values: ['a'], rowMode: 'array' });
      const [named, plain, config] = sent as Record<string, unknown>[];
      assert.match(String(named!.name), /^hp_[0-9a-f]{20}$/);
      assert.deepEqual(named!.values, [5]);
      assert.equal(plain, 'SELECT 1');
      assert.equal(config!.rowMode, 'array', 'a config object goes through untouched');
      assert.equal(db.stats!.entries().length, 3);
      assert.equal(db.metrics().acquires, 3);
    } finally {
      await db.close();
      await db.pool.end();
    }
  });

  test('pool.query with a callback answers through it and counts a failed query', async () => {
    const db = instrumentPool(stubPool(), { leakDetectionMs: 0 });
    try {
      const ok = await new Promise<unknown>((resolve, reject) =>
        db.pool.query('SELECT 1', (error, result) => (error ? reject(error) : resolve(result))),
      );
      assert.deepEqual((ok as pg.QueryResult).rows, [{ one: 1 }]);
      failNext = new Error('syntax error');
      const error = await new Promise<Error>((resolve) =>
        db.pool.query('SELEC 1', [], (e) => resolve(e)),
      );
      assert.equal(error.message, 'syntax error');
      assert.equal(db.metrics().queryErrors, 1);
      assert.equal(db.stats!.top(1, 'errors')[0]!.errors, 1);
      // released with the error, as pg-pool's own query() does: pg-pool drops that client
      assert.equal(db.metrics().inUse, 0);
    } finally {
      await db.close();
      await db.pool.end();
    }
  });

  test('a connection error during a pooled query fails it and removes the client', async () => {
    const db = instrumentPool(stubPool(), { leakDetectionMs: 0 });
    try {
      failNext = 'socket';
      await assert.rejects(db.query('SELECT pg_sleep(10)'), /connection terminated/);
      assert.equal(db.metrics().queryErrors, 1);
      // pg-pool drops a client released with an error
      await new Promise((resolve) => setImmediate(resolve));
      assert.equal(db.metrics().total, 0);
      assert.deepEqual((await db.query('SELECT 1')).rows, [{ one: 1 }]);
    } finally {
      await db.close();
      await db.pool.end();
    }
  });

  test('strict N+1 fails the pooled query before it is sent, promise and callback alike', async () => {
    const detector = new NPlusOneDetector({ threshold: 2, mode: 'strict' });
    const db = instrumentPool(stubPool(), { leakDetectionMs: 0, nPlusOne: detector });
    sent.length = 0;
    try {
      await detector.run('GET /x', async () => {
        await db.query('SELECT * FROM t WHERE id = $1', [1]);
        await assert.rejects(db.query('SELECT * FROM t WHERE id = $1', [2]), NPlusOneError);
        const error = await new Promise<Error>((resolve) =>
          db.pool.query('SELECT * FROM t WHERE id = $1', [3], (e) => resolve(e)),
        );
        assert.ok(error instanceof NPlusOneError);
      });
      assert.equal(sent.length, 1);
      assert.equal(db.metrics().acquires, 1, 'no connection was taken for the refused queries');
    } finally {
      await db.close();
      await db.pool.end();
    }
  });

  test('a held client measures its queries, callbacks included, and passes submittables', async () => {
    const db = instrumentPool(stubPool(), { leakDetectionMs: 0 });
    try {
      const client = await db.connect();
      await client.query('BEGIN');
      await new Promise<void>((resolve, reject) =>
        client.query('SELECT $1::int', [1], (error) => (error ? reject(error) : resolve())),
      );
      failNext = new Error('boom');
      await assert.rejects(client.query('SELECT 1/0'), /boom/);
      const submittable = { submit: () => {} };
      assert.equal(client.query(submittable as never), submittable);
      client.release();
      const calls = db.stats!.entries().map((e) => [e.query, e.calls, e.errors]);
      assert.deepEqual(calls.sort(), [
        ['begin', 1, 0],
        ['select $1::int', 1, 0],
        ['select ?/?', 1, 1],
      ]);
      assert.equal(db.metrics().queryErrors, 1);
    } finally {
      await db.close();
      await db.pool.end();
    }
  });
});
