/**
 * hotpath/cache on a real Redis: a redis-server started by this file on a free port under a
 * temp dir (so it can be stopped and restarted), two cache instances in one process, each
 * with its own connections, as two service instances would have.
 */
import assert from 'node:assert/strict';
import { invalidationSeen } from '../helpers/cache-invalidation.js';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { type Cache, createCache } from 'hotpath/cache';
import { redisForTests } from '../helpers/services.js';
import { RedisServer } from './cache-redis-server.js';

const available = await redisForTests();

function manualClock(): { now(): number; advance(ms: number): void } {
  let t = Date.now();
  return { now: () => t, advance: (ms) => void (t += ms) };
}

const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Waits until `condition()` holds; fails with `what` instead of hanging if it never does. */
async function until(condition: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await settle();
  }
}

describe('hotpath/cache on a real Redis', { skip: available.skip }, () => {
  const server = new RedisServer();
  const clients: Redis[] = [];
  const caches: Cache[] = [];
  let namespaceSeq = 0;

  const client = (): Redis => {
    const c = new Redis(server.url, { retryStrategy: () => 50, maxRetriesPerRequest: 1 });
    c.on('error', () => undefined);
    clients.push(c);
    return c;
  };
  const pair = async (
    extra: Partial<Parameters<typeof createCache>[0]> = {},
    bExtra: Partial<Parameters<typeof createCache>[0]> = extra,
  ): Promise<[Cache, Cache, Redis, Redis]> => {
    const namespace = `it${++namespaceSeq}`;
    const aClient = client();
    // A generous L2 deadline: on a loaded CI machine a slow answer must not count as an outage.
    const a = createCache({ namespace, l2: aClient, l2TimeoutMs: 5000, ...extra });
    const b = createCache({ namespace, l2: client(), l2TimeoutMs: 5000, ...bExtra });
    namespaces.set(a, namespace);
    caches.push(a, b);
    await Promise.all([a.ready(), b.ready()]);
    return [a, b, client(), aClient];
  };

  before(async () => {
    await server.start();
  });

  after(async () => {
    for (const cache of caches) await cache.close().catch(() => undefined);
    for (const c of clients) c.disconnect();
    await server.dispose();
  });

  test('1,000 concurrent cold reads over two instances call the factory once', async () => {
    const [a, b] = await pair();
    let calls = 0;
    const factory = async (): Promise<string> => {
      calls++;
      // Hold the lease until the other instance is provably waiting for it.
      await until(
        () => a.stats().singleFlight.remoteWaits + b.stats().singleFlight.remoteWaits > 0,
        'the other instance waits for the lease',
      );
      return 'computed';
    };
    const reads = Array.from({ length: 1000 }, (_, i) =>
      (i % 2 === 0 ? a : b).getOrSet('cold', factory),
    );
    const values = await Promise.all(reads);
    assert.equal(calls, 1);
    assert.ok(values.every((v) => v === 'computed'));
    assert.equal(a.stats().factory.calls + b.stats().factory.calls, 1);
  });

  test('an acknowledged set is read back at once here and dropped from the other L1', async () => {
    const [a, b] = await pair();
    assert.equal(await b.getOrSet('p', () => 'v1'), 'v1');
    assert.equal(await b.get('p'), 'v1');
    const seen = invalidationSeen(b, 'p');
    await a.set('p', 'v2');
    assert.equal(await a.get('p'), 'v2');
    await seen;
    assert.equal(await b.get('p'), 'v2', 'read through L2 after the invalidation');
    const deleted = invalidationSeen(b, 'p');
    await a.delete('p');
    await deleted;
    assert.equal(await b.get('p'), undefined);
    assert.equal(await b.getOrSet('p', () => 'v3'), 'v3');
  });

  test('a load that started before a set never overwrites it, in L1 or in L2', async () => {
    const [a, b] = await pair();
    let release!: (v: string) => void;
    const old = a.getOrSet('race', () => new Promise<string>((resolve) => (release = resolve)));
    await until(() => a.stats().factory.calls > 0, 'the load has started');
    const seen = invalidationSeen(a, 'race');
    await b.set('race', 'new');
    await seen;
    release('old');
    assert.equal(await old, 'old');
    assert.equal(await a.getOrSet('race', () => 'factory'), 'new', 'not cached in L1');
    assert.equal(await b.getOrSet('race', () => 'factory'), 'new');
  });

  for (const [title, skewMs] of [
    ['both stamp the same millisecond, so the versions tie', 0],
    ["the writer's clock runs 5 ms behind, so its version is the lower one", 5],
  ] as const) {
    test(`a load that started before another instance's set never overwrites it when ${title}`, async () => {
      let t = Date.now();
      const [a, b] = await pair({ clock: { now: () => t } }, { clock: { now: () => t - skewMs } });
      let release!: (v: string) => void;
      const old = a.getOrSet('tie', () => new Promise<string>((resolve) => (release = resolve)));
      await until(() => a.stats().factory.calls > 0, 'the load has started');
      const seen = invalidationSeen(a, 'tie');
      await b.set('tie', 'new');
      await seen;
      release('old');
      assert.equal(await old, 'old', 'the load still answers its own callers');
      t += 1; // a later read, still within every TTL
      assert.equal(await a.getOrSet('tie', () => 'factory'), 'new', 'not cached in L1');
      assert.equal(await b.getOrSet('tie', () => 'factory'), 'new', 'not written to L2');
    });
  }

  test('a delete from an instance whose clock runs behind still removes the copy another instance filled', async () => {
    // b's clock runs 50 ms ahead: the record it fills carries a version above the version a
    // stamps on its delete. The delete must still replace it, and no instance may serve it.
    const t = Date.now();
    const [a, b, raw] = await pair({ clock: { now: () => t } }, { clock: { now: () => t + 50 } });
    assert.equal(await b.getOrSet('skew', () => 'old'), 'old');
    const seen = invalidationSeen(b, 'skew');
    await a.delete('skew');
    await seen;
    const record = await raw.get(`${namespaceOf(a)}:v:skew`);
    assert.match(record ?? '', /^\d+\|0\|0\|d\|/, `L2 holds the tombstone: ${record}`);
    assert.equal(await b.getOrSet('skew', () => 'fresh'), 'fresh', 'b loads again');
    assert.equal(await a.getOrSet('skew', () => 'other'), 'fresh', "a reads b's new fill");
  });

  test('deleteByTag from an instance whose clock runs behind still removes the tagged copies another instance filled', async () => {
    const t = Date.now();
    const [a, b, raw] = await pair({ clock: { now: () => t } }, { clock: { now: () => t + 50 } });
    assert.equal(await b.getOrSet('tagged', () => 'old', { tags: ['user:1'] }), 'old');
    const seen = invalidationSeen(b, 'user:1');
    await a.deleteByTag('user:1');
    await seen;
    const record = await raw.get(`${namespaceOf(a)}:v:tagged`);
    assert.match(record ?? '', /^\d+\|0\|0\|d\|/, `L2 holds the tombstone: ${record}`);
    assert.equal(await b.getOrSet('tagged', () => 'fresh', { tags: ['user:1'] }), 'fresh');
  });

  test('a load whose key is written elsewhere after its invalidation arrived still leaves L2 alone', async () => {
    // The set lands in L2 and its message is applied before the load's result: the load's
    // fill is refused by L2 because the record it read (none) is no longer there.
    const [a, b, raw] = await pair();
    let release!: (v: string) => void;
    const old = a.getOrSet('late', () => new Promise<string>((resolve) => (release = resolve)));
    await until(() => a.stats().factory.calls > 0, 'the load has started');
    await b.set('late', 'new');
    release('old');
    assert.equal(await old, 'old');
    await a.close(); // waits for the load's L2 write, if it made one
    const record = await raw.get(`${namespaceOf(a)}:v:late`);
    assert.ok(record?.endsWith('"new"'), `L2 holds the set's value, not the load's: ${record}`);
  });

  test('a lost invalidation leaves an L1 copy stale for at most l1.ttlMs', async () => {
    const clock = manualClock();
    const [a, b, raw] = await pair({ clock, jitter: 0, l1: { ttlMs: 5000 } });
    await a.set('k', 'v1', { ttlMs: 60_000 });
    assert.equal(await b.get('k'), 'v1');
    // Rewrite L2 behind the caches' backs: the invalidation message is "lost".
    const record = (await raw.get(`${namespaceOf(a)}:v:k`))!;
    await raw.set(`${namespaceOf(a)}:v:k`, record.replace(/"v1"$/, '"v2"'));
    clock.advance(4999);
    assert.equal(await b.get('k'), 'v1', 'stale within the bound');
    clock.advance(1);
    assert.equal(await b.get('k'), 'v2', 'fresh once l1.ttlMs has passed');
  });

  test('the L1 copy never outlives the remaining L2 TTL', async () => {
    const clock = manualClock();
    const [a, b] = await pair({ clock, jitter: 0, l1: { ttlMs: 60_000 } });
    await a.set('t', 'v', { ttlMs: 1000 });
    clock.advance(900);
    assert.equal(await b.get('t'), 'v');
    clock.advance(100);
    let calls = 0;
    assert.equal(
      await b.getOrSet('t', () => ++calls),
      1,
      'expired with its L2 record, not 60 s later',
    );
  });

  test('a stale L2 value is served at once while one instance refreshes it', async () => {
    const clock = manualClock();
    const [a, b] = await pair({ clock, jitter: 0 });
    const options = { ttlMs: 100, staleMs: 60_000 };
    await a.getOrSet('swr', () => 'old', options);
    clock.advance(200);
    let calls = 0;
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const refresh = async (): Promise<string> => {
      calls++;
      await gate;
      return 'new';
    };
    assert.equal(await b.getOrSet('swr', refresh, options), 'old', 'stale from L2, at once');
    assert.equal(await a.getOrSet('swr', refresh, options), 'old', 'the other instance too');
    // Both refreshes run in the background: wait until one instance's factory runs and the
    // other found its lease (either may win the lease).
    await until(
      () =>
        calls > 0 && a.stats().singleFlight.remoteWaits + b.stats().singleFlight.remoteWaits > 0,
      'one refresh runs and the other instance waits for its lease',
    );
    assert.equal(calls, 1, 'one refresh across both instances');
    // The instance that waited for the lease hears the refresher's invalidation.
    const waiter = a.stats().singleFlight.remoteWaits > 0 ? a : b;
    const seen = invalidationSeen(waiter, 'swr');
    release();
    await seen;
    assert.equal(await a.getOrSet('swr', refresh, options), 'new');
    assert.equal(calls, 1);
  });

  test('works with a lazily connected client without an offline queue', async () => {
    const strict = (): Redis => {
      const c = new Redis(server.url, {
        lazyConnect: true,
        enableOfflineQueue: false,
        maxRetriesPerRequest: 1,
      });
      c.on('error', () => undefined);
      clients.push(c);
      return c;
    };
    const namespace = `strict${++namespaceSeq}`;
    const [ca, cb] = [strict(), strict()];
    await Promise.all([ca.connect(), cb.connect()]);
    const a = createCache({ namespace, l2: ca, l2TimeoutMs: 5000 });
    const b = createCache({ namespace, l2: cb, l2TimeoutMs: 5000 });
    caches.push(a, b);
    await Promise.all([a.ready(), b.ready()]);
    assert.equal(await b.getOrSet('k', () => 'v1'), 'v1');
    const seen = invalidationSeen(b, 'k');
    await a.set('k', 'v2');
    await seen;
    assert.equal(await b.get('k'), 'v2');
  });

  test('deleteByTag removes tagged entries in every instance and in L2', async () => {
    const [a, b] = await pair();
    await a.getOrSet('u1:p1', () => 1, { tags: ['user:1'] });
    await a.getOrSet('u1:p2', () => 2, { tags: ['user:1'] });
    await a.getOrSet('u2:p1', () => 3, { tags: ['user:2'] });
    assert.equal(await b.get('u1:p1'), 1);
    const seen = invalidationSeen(b, 'user:1');
    await a.deleteByTag('user:1');
    await seen;
    assert.equal(await b.get('u1:p1'), undefined);
    assert.equal(await b.get('u1:p2'), undefined);
    assert.equal(await b.get('u2:p1'), 3);
  });

  test('values round-trip through L2 with Date, BigInt and Buffer intact', async () => {
    const [a, b] = await pair();
    const value = { at: new Date(1_700_000_000_000), cents: 2n ** 70n, blob: Buffer.from('héllo') };
    await a.set('typed', value);
    assert.deepEqual(await b.get('typed'), value);
  });

  test('write-behind: set answers from L1 at once and close() flushes every acknowledged write', async () => {
    const namespace = `wb${++namespaceSeq}`;
    const cache = createCache({
      namespace,
      l2: client(),
      l2TimeoutMs: 5000,
      writeMode: 'behind',
      writeBehind: { flushIntervalMs: 60_000, maxBatch: 1000 },
    });
    await cache.ready();
    for (let i = 0; i < 300; i++) await cache.set(`w${i}`, i);
    assert.equal(await cache.get('w299'), 299);
    assert.equal(cache.stats().writeBehind.pending, 300);
    await cache.close();
    const raw = client();
    const stored = await raw.mget(Array.from({ length: 300 }, (_, i) => `${namespace}:v:w${i}`));
    assert.ok(
      stored.every((s, i) => s !== null && s.endsWith(`|${i}`)),
      'all 300 writes reached Redis',
    );
  });

  test('deletes skipped while a timeout had L2 marked down reach L2 and the other instances once it is usable, without a reconnect', async () => {
    const [a, b, raw] = await pair(
      { l2TimeoutMs: 100, l2RetryMs: 200, l1: { ttlMs: 60_000 } },
      { l2TimeoutMs: 5000, l1: { ttlMs: 60_000 } },
    );
    assert.equal(await b.getOrSet('k1', () => 'old-1', { ttlMs: 60_000 }), 'old-1');
    assert.equal(await b.getOrSet('k2', () => 'old-2', { ttlMs: 60_000 }), 'old-2');
    // Redis busy for 400 ms (a script spinning): a's delete of k1 times out, which marks L2
    // down for 200 ms while the connection stays up; its delete of k2 then skips L2.
    const busy = raw.eval(
      `local s = redis.call('TIME'); local t0 = s[1] * 1000000 + s[2]
       repeat local t = redis.call('TIME') until t[1] * 1000000 + t[2] - t0 > 400000
       return 1`,
      0,
    );
    await a.delete('k1');
    await a.delete('k2');
    assert.equal(a.stats().l2.available, false, 'L2 is marked down after the timeout');
    await busy;
    // No reconnect happens: the replay comes from the tier being usable again.
    await until(() => a.stats().l2.available, 'L2 usable again');
    const k2 = namespaceOf(a) + ':v:k2';
    let record: string | null = null;
    await until(() => {
      void raw.get(k2).then((r) => (record = r));
      return record !== null && /^\d+\|0\|0\|d\|/.test(record);
    }, 'k2 tombstoned in L2');
    await until(() => b.stats().l1.entries === 0, "the replay's invalidations reached b");
    assert.equal(await b.getOrSet('k2', () => 'new-2'), 'new-2', 'b loads k2 again');
    assert.equal(await b.getOrSet('k1', () => 'new-1'), 'new-1', 'b loads k1 again');
  });

  test('Redis down: requests are served from L1 and the source; the cache recovers by itself', async () => {
    const [a, , , aClient] = await pair({ l2RetryMs: 20 });
    assert.equal(await a.getOrSet('before', () => 'b'), 'b');
    const down = new Promise((resolve) => aClient.once('close', resolve));
    await server.stop();
    await down;
    assert.equal(await a.getOrSet('before', () => 'again'), 'b', 'L1 still answers');
    assert.equal(await a.getOrSet('during', () => 'from source'), 'from source');
    await a.set('written-during', 'x');
    assert.equal(await a.get('written-during'), 'x');
    assert.equal(a.stats().l2.available, false);
    // A write-behind cache that cannot flush before its deadline says how many writes it lost.
    const behind = createCache({
      namespace: `down${++namespaceSeq}`,
      l2: client(),
      writeMode: 'behind',
      writeBehind: { closeTimeoutMs: 0 },
    });
    await behind.set('w1', 1);
    await behind.set('w2', 2);
    await assert.rejects(behind.close(), (error: unknown) => {
      assert.equal((error as { code: string }).code, 'HP_ERR_CACHE_FLUSH');
      assert.equal((error as { pending: number }).pending, 2);
      return true;
    });
    // events.once would reject on the reconnect attempts' 'error' events: wait for 'ready' only.
    const back = new Promise((resolve) => aClient.once('ready', resolve));
    await server.start();
    await back;
    assert.equal(a.stats().l2.available, true);
    await a.set('after', 'y');
    const raw = client();
    await new Promise((resolve) => raw.once('ready', resolve));
    assert.match((await raw.get(`${namespaceOf(a)}:v:after`)) ?? '', /"y"$/);
  });
});

const namespaces = new WeakMap<Cache, string>();
function namespaceOf(cache: Cache): string {
  return namespaces.get(cache)!;
}
