import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { InvalidOptionError } from '../errors/index.js';
import { createCache } from './cache.js';
import { CacheLoaderError, CacheTimeoutError } from './errors.js';

function manualClock(start = 1_000_000): { now(): number; advance(ms: number): void } {
  let t = start;
  return { now: () => t, advance: (ms) => void (t += ms) };
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('createCache (L1 only)', () => {
  test('1,000 concurrent getOrSet calls on a cold key call the factory once', async () => {
    const cache = createCache({ namespace: 't' });
    let calls = 0;
    const factory = async (): Promise<number> => {
      calls++;
      await tick();
      return 42;
    };
    const results = await Promise.all(
      Array.from({ length: 1000 }, () => cache.getOrSet('k', factory)),
    );
    assert.equal(calls, 1);
    assert.ok(results.every((r) => r === 42));
    assert.equal(cache.stats().singleFlight.coalesced, 999);
    await cache.close();
  });

  test('peek answers a fresh L1 value synchronously, and undefined for a miss, a cached "not found", an expired entry or one due for refresh-ahead', async () => {
    const clock = manualClock();
    const cache = createCache({ namespace: 't', clock, jitter: 0 });
    assert.equal(cache.peek('k'), undefined, 'a miss');
    assert.equal(cache.stats().l1.hits, 0);
    await cache.getOrSet('k', () => 7, { ttlMs: 1000 });
    assert.equal(cache.peek<number>('k'), 7);
    assert.equal(cache.stats().l1.hits, 1, 'a returned value counts as an L1 hit');
    clock.advance(1000);
    assert.equal(cache.peek('k'), undefined, 'expired at its TTL');

    await cache.getOrSet('gone', () => undefined, { ttlMs: 1000, negativeTtlMs: 1000 });
    assert.equal(cache.peek('gone'), undefined, 'a cached "not found"');

    let loads = 0;
    const load = (): number => ++loads;
    await cache.getOrSet('r', load, { ttlMs: 1000, refreshAhead: 0.5 });
    clock.advance(400);
    assert.equal(cache.peek<number>('r'), 1, 'before the refresh point');
    clock.advance(100);
    assert.equal(cache.peek('r'), undefined, 'due for refresh-ahead: left to getOrSet');
    assert.equal(await cache.getOrSet('r', load, { ttlMs: 1000, refreshAhead: 0.5 }), 1);
    await tick();
    assert.equal(loads, 2, 'getOrSet started the refresh that peek left to it');
    assert.equal(cache.stats().l1.hits, 3);
    await cache.close();
  });

  test('serves from L1 until the TTL, then calls the factory again', async () => {
    const clock = manualClock();
    const cache = createCache({ namespace: 't', clock, jitter: 0 });
    let calls = 0;
    const factory = (): number => ++calls;
    assert.equal(await cache.getOrSet('k', factory, { ttlMs: 1000 }), 1);
    clock.advance(999);
    assert.equal(await cache.getOrSet('k', factory, { ttlMs: 1000 }), 1);
    clock.advance(1);
    assert.equal(await cache.getOrSet('k', factory, { ttlMs: 1000 }), 2);
    assert.deepEqual(
      {
        hits: cache.stats().l1.hits,
        misses: cache.stats().l1.misses,
        calls: cache.stats().factory.calls,
      },
      { hits: 1, misses: 2, calls: 2 },
    );
    await cache.close();
  });

  test('jitter shortens each TTL by at most the jitter fraction', async () => {
    for (const r of [0, 0.5, 0.999]) {
      const clock = manualClock();
      const cache = createCache({ namespace: 't', clock, jitter: 0.2, random: () => r });
      let calls = 0;
      await cache.getOrSet('k', () => ++calls, { ttlMs: 1000 });
      const lifetime = 1000 * (1 - 0.2 * r);
      clock.advance(Math.ceil(lifetime) - 1);
      await cache.getOrSet('k', () => ++calls, { ttlMs: 1000 });
      assert.equal(calls, 1, `still fresh before ${lifetime} ms (random ${r})`);
      clock.advance(1);
      await cache.getOrSet('k', () => ++calls, { ttlMs: 1000 });
      assert.equal(calls, 2, `expired at ${lifetime} ms (random ${r})`);
      assert.ok(lifetime >= 800 && lifetime <= 1000);
      await cache.close();
    }
  });

  test('serves the stale value while one background refresh runs', async () => {
    const clock = manualClock();
    const cache = createCache({ namespace: 't', clock, jitter: 0 });
    let version = 0;
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const factory = async (): Promise<number> => {
      version++;
      if (version > 1) await gate;
      return version;
    };
    const options = { ttlMs: 100, staleMs: 1000 };
    assert.equal(await cache.getOrSet('k', factory, options), 1);
    clock.advance(150);
    const answers = await Promise.all([1, 2, 3].map(() => cache.getOrSet('k', factory, options)));
    assert.deepEqual(answers, [1, 1, 1]);
    assert.equal(version, 2, 'exactly one refresh started');
    release();
    await tick();
    assert.equal(await cache.getOrSet('k', factory, options), 2);
    assert.equal(cache.stats().staleServed, 3);
    await cache.close();
  });

  test('serves stale when the factory fails, and fails with HP_ERR_CACHE_LOADER without one', async () => {
    const clock = manualClock();
    const cache = createCache({ namespace: 't', clock, jitter: 0 });
    await cache.getOrSet('k', () => 'old', { ttlMs: 100, staleMs: 1000 });
    clock.advance(150);
    const boom = (): never => {
      throw new Error('db down');
    };
    assert.equal(await cache.getOrSet('k', boom, { ttlMs: 100, staleMs: 1000 }), 'old');
    await tick();
    clock.advance(2000);
    await assert.rejects(cache.getOrSet('k', boom), (error: unknown) => {
      assert.ok(error instanceof CacheLoaderError);
      assert.equal(error.code, 'HP_ERR_CACHE_LOADER');
      assert.equal((error.cause as Error).message, 'db down');
      return true;
    });
    assert.equal(cache.stats().factory.errors, 2);
    await cache.close();
  });

  test('refreshAhead refreshes in the background once the fraction of the TTL is left', async () => {
    const clock = manualClock();
    const cache = createCache({ namespace: 't', clock, jitter: 0 });
    let calls = 0;
    const options = { ttlMs: 1000, refreshAhead: 0.2 };
    assert.equal(await cache.getOrSet('k', () => ++calls, options), 1);
    clock.advance(799);
    assert.equal(await cache.getOrSet('k', () => ++calls, options), 1);
    assert.equal(calls, 1);
    clock.advance(1);
    assert.equal(await cache.getOrSet('k', () => ++calls, options), 1, 'answers from L1 at once');
    await tick();
    assert.equal(calls, 2, 'one background refresh');
    assert.equal(await cache.getOrSet('k', () => ++calls, options), 2);
    await cache.close();
  });

  test('caches "not found" for negativeTtlMs only', async () => {
    const clock = manualClock();
    const cache = createCache({ namespace: 't', clock, jitter: 0 });
    let calls = 0;
    const missing = (): undefined => void calls++;
    assert.equal(await cache.getOrSet('a', missing), undefined);
    assert.equal(await cache.getOrSet('a', missing), undefined);
    assert.equal(calls, 2, 'not cached without negativeTtlMs');
    await cache.getOrSet('b', missing, { negativeTtlMs: 50 });
    await cache.getOrSet('b', missing, { negativeTtlMs: 50 });
    assert.equal(calls, 3);
    clock.advance(50);
    await cache.getOrSet('b', missing, { negativeTtlMs: 50 });
    assert.equal(calls, 4);
    await cache.close();
  });

  test('softTimeoutMs waits that long for a fresh value, then serves stale while the factory goes on', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const clock = manualClock();
    const cache = createCache({ namespace: 't', clock, jitter: 0 });
    await cache.getOrSet('k', () => 'v1', { ttlMs: 10, staleMs: 10_000 });
    clock.advance(20);
    let finish!: (v: string) => void;
    const slow = (): Promise<string> => new Promise((resolve) => (finish = resolve));
    const options = { ttlMs: 10_000, staleMs: 10_000, softTimeoutMs: 50 };
    let answered: unknown = 'nothing yet';
    const pending = cache.getOrSet('k', slow, options).then((v) => (answered = v));
    await tick();
    assert.equal(answered, 'nothing yet', 'waits for the fresh value first');
    t.mock.timers.tick(50);
    await pending;
    assert.equal(answered, 'v1');
    finish('v2');
    await tick();
    assert.equal(
      await cache.getOrSet('k', slow, options),
      'v2',
      'the slow factory filled the cache',
    );
    await cache.close();
  });

  test('hardTimeoutMs aborts the factory and fails with HP_ERR_CACHE_TIMEOUT', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const cache = createCache({ namespace: 't' });
    let aborted = false;
    const never = ({ signal }: { signal: AbortSignal }): Promise<string> =>
      new Promise((_resolve, reject) => {
        signal.addEventListener('abort', () => {
          aborted = true;
          reject(new Error('aborted'));
        });
      });
    const check = assert.rejects(
      cache.getOrSet('cold', never, { hardTimeoutMs: 100 }),
      (error: unknown) =>
        error instanceof CacheTimeoutError && error.code === 'HP_ERR_CACHE_TIMEOUT',
    );
    await tick();
    t.mock.timers.tick(100);
    await check;
    assert.ok(aborted, 'the factory signal was aborted');
    assert.equal(cache.stats().factory.timeouts, 1);
    await cache.close();
  });

  test('an acknowledged set is never overwritten by a load that started before it', async () => {
    const cache = createCache({ namespace: 't' });
    let release!: (v: string) => void;
    const loading = cache.getOrSet(
      'k',
      () => new Promise<string>((resolve) => (release = resolve)),
    );
    await tick();
    await cache.set('k', 'new');
    release('old');
    assert.equal(await loading, 'old', 'the load answers the callers that started before the set');
    assert.equal(await cache.getOrSet('k', () => 'factory'), 'new');
    assert.equal(await cache.get('k'), 'new');
    await cache.delete('k');
    assert.equal(await cache.get('k'), undefined);
    await cache.close();
  });

  test('deleteByTag drops every entry with the tag and no other', async () => {
    const cache = createCache({ namespace: 't' });
    await cache.getOrSet('p1', () => 1, { tags: ['user:1'] });
    await cache.getOrSet('p2', () => 2, { tags: ['user:1', 'x'] });
    await cache.set('p3', 3, { tags: ['user:2'] });
    await cache.deleteByTag('user:1');
    assert.equal(await cache.get('p1'), undefined);
    assert.equal(await cache.get('p2'), undefined);
    assert.equal(await cache.get('p3'), 3);
    await cache.clear();
    assert.equal(await cache.get('p3'), undefined);
    await cache.close();
  });

  test('maxBytes holds: entries are evicted, never rejected with an error', async () => {
    const cache = createCache({ namespace: 't', l1: { max: 100_000, maxBytes: 50_000 } });
    for (let i = 0; i < 2000; i++) await cache.set(`k${i}`, { id: i, text: 'x'.repeat(200) });
    const { bytes, entries } = cache.stats().l1;
    assert.ok(bytes <= 50_000, `bytes ${bytes} within 50000`);
    assert.ok(entries > 10 && entries < 2000, `entries ${entries} evicted down`);
    await cache.set('huge', 'y'.repeat(100_000));
    assert.equal(await cache.get('huge'), undefined, 'an entry larger than maxBytes is not kept');
    assert.ok(cache.stats().l1.bytes <= 50_000);
    await cache.close();
  });

  test('the caller signal stops waiting, not the shared load', async () => {
    const cache = createCache({ namespace: 't' });
    let release!: (v: number) => void;
    const factory = (): Promise<number> => new Promise((resolve) => (release = resolve));
    const controller = new AbortController();
    const first = cache.getOrSet('k', factory, { signal: controller.signal });
    const second = cache.getOrSet('k', factory);
    controller.abort();
    await assert.rejects(first, { code: 'HP_ERR_ABORTED' });
    release(7);
    assert.equal(await second, 7);
    await cache.close();
  });

  test('close() aborts running factories and rejects their callers with HP_ERR_CLOSED', async () => {
    const cache = createCache({ namespace: 't' });
    const signals: AbortSignal[] = [];
    const hang = ({ signal }: { signal: AbortSignal }): Promise<number> => {
      signals.push(signal);
      return new Promise(() => undefined);
    };
    const calls = Array.from({ length: 20 }, (_, i) => cache.getOrSet(`k${i}`, hang));
    while (signals.length < 20) await tick();
    await cache.close();
    for (const call of calls) await assert.rejects(call, { code: 'HP_ERR_CLOSED' });
    assert.ok(signals.every((s) => s.aborted));
  });

  test('checks options and names the bad one', async () => {
    assert.throws(
      () => createCache({ namespace: '' }),
      (e: unknown) => e instanceof InvalidOptionError && e.option === 'namespace',
    );
    assert.throws(() => createCache({ namespace: 'n', l1: { max: 0 } }), { option: 'l1.max' });
    assert.throws(() => createCache({ namespace: 'n', jitter: 2 }), { option: 'jitter' });
    const prefixed = new Redis({ lazyConnect: true, keyPrefix: 'app:' });
    assert.throws(() => createCache({ namespace: 'n', l2: prefixed }), { option: 'l2' });
    prefixed.disconnect();
    const cache = createCache({ namespace: 'n' });
    await assert.rejects(
      cache.getOrSet('k', () => 1, { ttlMs: -1 }),
      { option: 'ttlMs' },
    );
    await assert.rejects(
      cache.getOrSet('k', () => 1, { refreshAhead: 1 }),
      { option: 'refreshAhead' },
    );
    await assert.rejects(
      cache.getOrSet('k', () => 1, { softTimeoutMs: 10, hardTimeoutMs: 5 }),
      { option: 'softTimeoutMs' },
    );
    await cache.close();
    await assert.rejects(
      cache.getOrSet('k', () => 1),
      { code: 'HP_ERR_CLOSED' },
    );
  });
});
