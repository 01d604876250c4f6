import assert from 'node:assert/strict';
import { describe, mock, test } from 'node:test';
import type { Database, QueryExecutor, QueryResult } from '../client/database.js';
import { QueryError } from '../errors.js';
import { ReplicaRouter, parseLsn } from './replica-router.js';

/** A fake server: answers LSN queries from `lsn`, records other queries, can hang or fail. */
class FakeDb implements Database {
  readonly kind = 'postgres' as const;
  lsn: string | null = '0/100';
  queries: string[] = [];
  hang = false;
  fail: Error | undefined;
  constructor(readonly name: string) {}
  query<Row>(text: string): Promise<QueryResult<Row>> {
    if (this.hang) return new Promise(() => {});
    if (this.fail) return Promise.reject(this.fail);
    if (/pg_(current_wal_insert|last_wal_replay)_lsn/.test(text)) {
      return Promise.resolve({ rows: [{ lsn: this.lsn }] as Row[], rowCount: 1 });
    }
    this.queries.push(text);
    return Promise.resolve({ rows: [{ from: this.name }] as Row[], rowCount: 1 });
  }
  transaction<T>(fn: (tx: QueryExecutor) => Promise<T>): Promise<T> {
    return fn(this);
  }
  ping(): Promise<void> {
    return Promise.resolve();
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

function setup(options: { fallbackWindowMs?: number } = {}) {
  const primary = new FakeDb('primary');
  const replica = new FakeDb('replica');
  let now = 0;
  const clock = { now: () => now };
  const router = new ReplicaRouter({
    primary,
    replica,
    pollIntervalMs: 1_000_000,
    replicaTimeoutMs: 500,
    clock,
    ...options,
  });
  const readAs = async (caller: string) =>
    router.runAs([caller], async () => {
      const { rows } = await router.reader.query<{ from: string }>('SELECT 1 FROM payments');
      return rows[0]!.from;
    });
  return { primary, replica, router, readAs, advance: (ms: number) => (now += ms) };
}

/** An in-memory WritePositionStore, as Redis would hold it for every process. */
function memoryStore() {
  const map = new Map<string, bigint>();
  return {
    failing: false,
    set(callers: readonly string[], lsn: bigint): Promise<void> {
      for (const c of callers) if ((map.get(c) ?? -1n) < lsn) map.set(c, lsn);
      return Promise.resolve();
    },
    get(callers: readonly string[]): Promise<bigint | null> {
      if (this.failing) return Promise.reject(new Error('store down'));
      const known = callers.map((c) => map.get(c)).filter((l) => l !== undefined);
      return Promise.resolve(known.length === 0 ? null : known.reduce((a, b) => (a > b ? a : b)));
    },
  };
}

describe('ReplicaRouter', () => {
  test('parseLsn reads a pg_lsn as bytes of WAL', () => {
    assert.equal(parseLsn('0/16B3748'), 0x16b3748n);
    assert.equal(parseLsn('16/B374D848'), (0x16n << 32n) | 0xb374d848n);
    assert.ok(parseLsn('1/0') > parseLsn('0/FFFFFFFF'));
  });

  test('reads go to the replica when the caller has not written', async () => {
    const { router, readAs } = setup();
    await router.poll();
    assert.equal(await readAs('user:1'), 'replica');
    assert.equal(router.stats.replicaReads, 1);
    await router.close();
  });

  test("after a caller writes, its reads go to the primary until the replica replays past the write's position", async () => {
    const { primary, replica, router, readAs } = setup();
    await router.poll();
    primary.lsn = '0/200';
    await router.runAs(['user:1'], () => router.writer.query('INSERT INTO payments VALUES (1)'));
    assert.equal(await readAs('user:1'), 'primary');
    replica.lsn = '0/1FF';
    await router.poll();
    assert.equal(await readAs('user:1'), 'primary', 'one byte short is not replayed');
    replica.lsn = '0/200';
    await router.poll();
    assert.equal(await readAs('user:1'), 'replica');
    assert.equal(router.stats.pendingCallers, 0);
    await router.close();
  });

  test('other callers keep reading from the replica while a writer waits for replay', async () => {
    const { primary, router, readAs } = setup();
    await router.poll();
    primary.lsn = '0/900';
    await router.runAs(['user:1'], () => router.writer.query('UPDATE payments SET x = 1'));
    assert.equal(await readAs('user:2'), 'replica');
    assert.equal(await readAs('user:1'), 'primary');
    await router.close();
  });

  test('a read-only statement on the writer does not make its caller wait for replay', async () => {
    const { router, readAs } = setup();
    await router.poll();
    await router.runAs(['user:1'], () => router.writer.query('SELECT 1 FROM payments'));
    assert.equal(router.stats.pendingCallers, 0);
    assert.equal(await readAs('user:1'), 'replica');
    await router.close();
  });

  test("when the primary's position cannot be read, the writer reads from the primary for fallbackWindowMs", async () => {
    const { primary, router, readAs, advance } = setup({ fallbackWindowMs: 2000 });
    await router.poll();
    primary.lsn = 'garbage';
    await router.runAs(['user:1'], () => router.writer.query('INSERT INTO payments VALUES (1)'));
    advance(1999);
    assert.equal(await readAs('user:1'), 'primary');
    advance(1);
    assert.equal(await readAs('user:1'), 'replica');
    await router.close();
  });

  test('a replica slower than replicaTimeoutMs: the read is answered by the primary, and reads skip the replica until a poll answers', async () => {
    mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
    try {
      const { replica, router, readAs } = setup();
      await router.poll();
      replica.hang = true;
      const read = readAs('user:1');
      mock.timers.tick(500);
      assert.equal(await read, 'primary');
      assert.equal(router.stats.fallbacks, 1);
      assert.equal(router.stats.replicaAvailable, false);
      assert.equal(await readAs('user:1'), 'primary', 'no second wait on the frozen replica');
      assert.equal(router.stats.fallbacks, 1);
      replica.hang = false;
      await router.poll();
      assert.equal(await readAs('user:1'), 'replica');
      await router.close();
    } finally {
      mock.timers.reset();
    }
  });

  test('a replica that refuses connections: the read is answered by the primary', async () => {
    const { replica, router, readAs } = setup();
    await router.poll();
    replica.fail = QueryError.from(
      Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5433'), { code: 'ECONNREFUSED' }),
    );
    assert.equal(await readAs('user:1'), 'primary');
    assert.equal(router.stats.fallbacks, 1);
    await router.close();
  });

  test('an SQL error from the replica is the answer: the read is not repeated on the primary', async () => {
    const { primary, replica, router, readAs } = setup();
    await router.poll();
    replica.fail = new QueryError('syntax error', { code: '42601' });
    await assert.rejects(readAs('user:1'), /syntax error/);
    assert.deepEqual(primary.queries, []);
    await router.close();
  });

  test('a server that is not a standby (NULL replay position) serves no reads', async () => {
    const { replica, router, readAs } = setup();
    replica.lsn = null;
    await router.poll();
    assert.equal(await readAs('user:1'), 'primary');
    await router.close();
  });

  test("a write made through another router (shared store) sends this router's reads of that caller to the primary until replayed", async () => {
    const primary = new FakeDb('primary');
    const replica = new FakeDb('replica');
    const positions = memoryStore();
    const options = { primary, replica, positions, pollIntervalMs: 1_000_000 };
    const a = new ReplicaRouter(options);
    const b = new ReplicaRouter(options);
    await a.poll();
    await b.poll();
    primary.lsn = '0/500';
    await a.runAs(['user:1'], () => a.writer.query('INSERT INTO payments VALUES (1)'));
    const readOnB = () =>
      b.runAs(['user:1'], async () => {
        const { rows } = await b.reader.query<{ from: string }>('SELECT 1 FROM payments');
        return rows[0]!.from;
      });
    assert.equal(await readOnB(), 'primary');
    replica.lsn = '0/500';
    await b.poll();
    assert.equal(await readOnB(), 'replica');
    await a.close();
    await b.close();
  });

  test("a shared store that fails sends the callers' reads to the primary", async () => {
    const primary = new FakeDb('primary');
    const replica = new FakeDb('replica');
    const positions = memoryStore();
    const router = new ReplicaRouter({ primary, replica, positions, pollIntervalMs: 1_000_000 });
    await router.poll();
    positions.failing = true;
    const from = await router.runAs(['user:1'], async () => {
      const { rows } = await router.reader.query<{ from: string }>('SELECT 1 FROM payments');
      return rows[0]!.from;
    });
    assert.equal(from, 'primary');
    await router.close();
  });

  describe('fill', () => {
    /** A fill of user 1's row through the writer: which server answered it. */
    const fillOf = (router: ReplicaRouter, owners: string[] | null = ['user:1']) =>
      router.fill(
        async () => {
          const { rows } = await router.writer.query<{ from: string }>('SELECT * FROM payments');
          return rows[0]!.from;
        },
        () => owners,
      );

    test("reads the replica when it has replayed every owner's last write", async () => {
      const { primary, replica, router } = setup();
      primary.lsn = '0/200';
      await router.runAs(['user:1'], () => router.writer.query('INSERT INTO payments VALUES (1)'));
      replica.lsn = '0/200';
      await router.poll();
      assert.equal(await fillOf(router), 'replica');
      assert.deepEqual(primary.queries, ['INSERT INTO payments VALUES (1)']);
      assert.equal(router.stats.replicaFills, 1);
      assert.equal(router.stats.primaryFills, 0);
      await router.close();
    });

    test("is answered by the primary while an owner's last write is not replayed, whoever asks", async () => {
      const { primary, replica, router } = setup();
      await router.poll();
      primary.lsn = '0/200';
      await router.runAs(['user:1'], () => router.writer.query('UPDATE payments SET x = 1'));
      // Another caller's fill of user 1's row: read-your-writes would let it read the replica.
      assert.equal(await router.runAs(['client:other'], () => fillOf(router)), 'primary');
      assert.equal(router.stats.primaryFills, 1);
      // A fill of another user's row is not held back by user 1's write.
      assert.equal(await fillOf(router, ['user:2']), 'replica');
      replica.lsn = '0/200';
      await router.poll();
      assert.equal(await fillOf(router), 'replica');
      await router.close();
    });

    test('judges the replica by its position when the fill began, not by a poll during it', async () => {
      const { primary, replica, router } = setup();
      await router.poll();
      primary.lsn = '0/200';
      await router.runAs(['user:1'], () => router.writer.query('UPDATE payments SET x = 1'));
      const from = await router.fill(
        async () => {
          const { rows } = await router.writer.query<{ from: string }>('SELECT * FROM payments');
          // The replica catches up after it answered: its answer may predate the write.
          replica.lsn = '0/300';
          await router.poll();
          return rows[0]!.from;
        },
        () => ['user:1'],
      );
      assert.equal(from, 'primary');
      await router.close();
    });

    test('a write made with no caller (a background job) sends every fill to the primary until replayed', async () => {
      const { primary, replica, router } = setup();
      await router.poll();
      primary.lsn = '0/400';
      await router.writer.query("UPDATE payments SET status = 'authorized'");
      assert.equal(await fillOf(router, ['user:9']), 'primary');
      replica.lsn = '0/400';
      await router.poll();
      assert.equal(await fillOf(router, ['user:9']), 'replica');
      await router.close();
    });

    test('a fill asked by a caller whose own write is not replayed reads the primary only', async () => {
      const { primary, replica, router } = setup();
      await router.poll();
      primary.lsn = '0/200';
      await router.runAs(['user:1'], () => router.writer.query('UPDATE payments SET x = 1'));
      assert.equal(await router.runAs(['user:1'], () => fillOf(router)), 'primary');
      assert.deepEqual(replica.queries, []);
      await router.close();
    });

    test('a value the owners of which cannot be told (a row the replica lacks) is read again on the primary', async () => {
      const { router } = setup();
      await router.poll();
      assert.equal(await fillOf(router, null), 'primary');
      await router.close();
    });

    test('a replica that does not answer: the fill is answered by the primary', async () => {
      const { replica, router } = setup();
      await router.poll();
      replica.hang = true;
      assert.equal(await fillOf(router), 'primary');
      assert.equal(router.stats.fallbacks, 1);
      // Unavailable until a poll answers: the next fill goes straight to the primary.
      assert.equal(await fillOf(router), 'primary');
      await router.close();
    });

    test('a write through another router (shared store) sends fills of its owner to the primary until replayed; a failing store too', async () => {
      const primary = new FakeDb('primary');
      const replica = new FakeDb('replica');
      const positions = memoryStore();
      const options = { primary, replica, positions, pollIntervalMs: 1_000_000 };
      const a = new ReplicaRouter(options);
      const b = new ReplicaRouter(options);
      await a.poll();
      await b.poll();
      primary.lsn = '0/500';
      await a.runAs(['user:1'], () => a.writer.query('INSERT INTO payments VALUES (1)'));
      assert.equal(await fillOf(b), 'primary');
      replica.lsn = '0/500';
      await b.poll();
      assert.equal(await fillOf(b), 'replica');
      positions.failing = true;
      assert.equal(await fillOf(b), 'primary');
      await a.close();
      await b.close();
    });

    test('statements that write inside a fill still go to the primary', async () => {
      const { primary, router } = setup();
      await router.poll();
      await router.fill(
        () => router.writer.query('UPDATE payments SET seen = true'),
        () => ['user:1'],
      );
      assert.deepEqual(primary.queries, ['UPDATE payments SET seen = true']);
      await router.close();
    });
  });
});
