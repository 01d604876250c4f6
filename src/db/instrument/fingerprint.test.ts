import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { FingerprintCache, fingerprint, normalizeSql } from './fingerprint.js';
import { QueryStats } from './query-stats.js';

describe('normalizeSql', () => {
  test('replaces string and number literals and folds case and whitespace', () => {
    assert.equal(
      normalizeSql("SELECT *  FROM Users\n WHERE id = 42 AND name = 'O''Brien' -- who\n"),
      'select * from users where id = ? and name = ?',
    );
  });

  test('collapses IN lists and multi-row VALUES whatever their length', () => {
    assert.equal(
      normalizeSql('select 1 from t where id in (1, 2, 3)'),
      'select ? from t where id in (?, ...)',
    );
    assert.equal(
      normalizeSql('select 1 from t where id in ($1,$2)'),
      'select ? from t where id in ($1, ...)',
    );
    assert.equal(
      normalizeSql("INSERT INTO t (a,b) VALUES (1,'x'), (2, 'y');"),
      normalizeSql("insert into t (a, b) values (3, 'z')"),
    );
  });

  test('keeps parameters, quoted identifiers and words with digits; drops comments and dollar strings', () => {
    assert.equal(
      normalizeSql(
        'SELECT "Weird""Col", t1.c FROM t1 /* a /* nested */ b */ WHERE a = $1 AND b = $$x$$ AND c = $q$y$q$',
      ),
      'select "Weird""Col", t1.c from t1 where a = $1 and b = ? and c = ?',
    );
    assert.equal(normalizeSql("select E'a\\'b', 1.5e3, .5, x - 1"), 'select ?, ?, ?, x - ?');
  });
});

describe('fingerprint', () => {
  test('gives one stable id to queries differing only in literals', () => {
    const a = fingerprint('SELECT * FROM t WHERE id = 1');
    const b = fingerprint('select * from t where id = 99');
    assert.equal(a.id, b.id);
    assert.match(a.id, /^[0-9a-f]{16}$/);
    assert.notEqual(a.id, fingerprint('SELECT * FROM t WHERE other = 1').id);
  });

  test('the cache computes each text once and starts over past its bound', () => {
    const cache = new FingerprintCache(2);
    assert.equal(cache.get('select 1'), cache.get('select 1'));
    cache.get('select 2');
    cache.get('select 3');
    assert.equal(cache.size, 1);
  });
});

describe('QueryStats', () => {
  test('sums calls, rows, errors and time per fingerprint and sorts the top entries', () => {
    const stats = new QueryStats();
    const fast = fingerprint('select 1');
    const slow = fingerprint('select pg_sleep(1)');
    for (let i = 1; i <= 100; i++) stats.record(fast, i / 100, 1, false);
    stats.record(slow, 1000, 1, false);
    stats.record(slow, 5, 0, true);
    const [first, second] = stats.top(2);
    assert.equal(first!.query, 'select pg_sleep(?)');
    assert.equal(first!.calls, 2);
    assert.equal(first!.errors, 1);
    assert.equal(second!.calls, 100);
    assert.equal(second!.rows, 100);
    assert.ok(Math.abs(second!.totalMs - 50.5) < 1e-9);
    assert.ok(Math.abs(second!.p99Ms - 0.99) / 0.99 < 0.03, `p99 ${second!.p99Ms}`);
    assert.equal(stats.top(1, 'calls')[0]!.query, 'select ?');
  });

  test('counts fingerprints past maxFingerprints under (other)', () => {
    const stats = new QueryStats({ maxFingerprints: 2 });
    for (const q of ['select a from t', 'select b from t', 'select c from t', 'select d from t']) {
      stats.record(fingerprint(q), 1, 1, false);
    }
    assert.equal(stats.entries().length, 3);
    assert.equal(stats.get('other')?.calls, 2);
    assert.throws(() => new QueryStats({ maxFingerprints: 0 }), /maxFingerprints/);
  });
});
