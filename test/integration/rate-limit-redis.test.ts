/**
 * hotpath/resilience's RedisRateLimiter on a real Redis: the same decisions as the local
 * limiter on a recorded trace, batching, NOSCRIPT, and each fail policy with Redis
 * unreachable or frozen. Keys carry a unique prefix on the shared test server; the NOSCRIPT
 * test flushes scripts, so it runs on a redis-server of its own.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { once } from 'node:events';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { after, before, describe, mock, test } from 'node:test';
import { Redis } from 'ioredis';
import {
  LocalRateLimiter,
  RedisRateLimiter,
  type RateLimitDecision,
  type RateLimitErrorMessage,
  type RateLimitFailPolicy,
} from 'hotpath/resilience';
import { redisForTests } from '../helpers/services.js';
import { RedisServer } from './cache-redis-server.js';

const available = await redisForTests();

/** A clock set by hand, in integer microseconds, read in milliseconds as the limiters do. */
function microClock() {
  let us = 0;
  return { now: () => us / 1000, set: (t: number) => void (us = t) };
}

/** mulberry32: a small seeded generator, so the trace is the same on every run. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Arrival {
  us: number;
  key: string;
  cost: number;
}

/**
 * `n` arrivals over 4 keys, in phases whose total arrival rate is 10,000, 25,000, 50,000 and
 * 100,000 a second (exponential gaps rounded to whole µs, so some arrivals share a time),
 * with a pause of 0.5 s between phases; costs 1 (most), 2 or 5.
 */
function trace(n: number): Arrival[] {
  const next = random(20_240_601);
  const rates = [10_000, 25_000, 50_000, 100_000];
  const out: Arrival[] = [];
  let us = 1_000_000;
  for (let i = 0; i < n; i++) {
    const phase = Math.floor((i / n) * rates.length);
    if (i > 0 && phase !== Math.floor(((i - 1) / n) * rates.length)) us += 500_000;
    us += Math.floor((-Math.log(1 - next()) * 1e6) / rates[phase]!);
    const r = next();
    out.push({ us, key: `k${Math.floor(next() * 4)}`, cost: r < 0.8 ? 1 : r < 0.95 ? 2 : 5 });
  }
  return out;
}

const strip = ({ source: _source, ...rest }: RateLimitDecision) => rest;

/** A TCP server that accepts connections and never answers: a frozen Redis. */
async function frozenServer(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('data', () => undefined);
    socket.on('close', () => sockets.delete(socket));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    close: async () => {
      for (const s of sockets) s.destroy();
      server.close();
      await once(server, 'close');
    },
  };
}

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}

describe('RedisRateLimiter on a real Redis', { skip: available.skip }, () => {
  const prefix = `hp:test:rl:${randomBytes(6).toString('hex')}:`;
  const clients: Redis[] = [];
  const connect = (url = available.url): Redis => {
    const c = new Redis(url, { maxRetriesPerRequest: 1 });
    c.on('error', () => undefined);
    clients.push(c);
    return c;
  };
  let client: Redis;

  before(async () => {
    client = connect();
    await client.ping();
  });

  after(async () => {
    const keys = await client.keys(`${prefix}*`);
    if (keys.length > 0) await client.del(...keys);
    for (const c of clients) c.disconnect();
  });

  // 1,000,000 arrivals locally and on Redis: about 10 s on the 2-core development machine.
  test('gives the same decisions as the local limiter and its buckets on a trace of 1,000,000 arrivals', async () => {
    const arrivals = trace(1_000_000);
    const clock = microClock();
    const options = { rate: 3000, burst: 30, clock };
    const local = new LocalRateLimiter(options);
    // A third side: the same trace through a bucket held per key (local.bucket(key)).
    const held = new LocalRateLimiter(options);
    const buckets = new Map(['k0', 'k1', 'k2', 'k3'].map((k) => [k, held.bucket(k)]));
    let bucketMismatches = 0;
    const remote = new RedisRateLimiter({
      ...options,
      client,
      prefix: `${prefix}trace:`,
      time: 'client',
      timeoutMs: 30_000,
      failPolicy: 'closed',
    });
    const expected: RateLimitDecision[] = [];
    let mismatches = 0;
    let first = '';
    const chunk = 8192;
    for (let start = 0; start < arrivals.length; start += chunk) {
      const pending: Promise<RateLimitDecision>[] = [];
      for (let i = start; i < Math.min(start + chunk, arrivals.length); i++) {
        const a = arrivals[i]!;
        clock.set(a.us);
        expected[i - start] = local.takeSync(a.key, a.cost);
        const viaBucket = buckets.get(a.key)!.tryTake(a.cost);
        if (
          viaBucket.allowed !== expected[i - start]!.allowed ||
          viaBucket.remaining !== expected[i - start]!.remaining ||
          viaBucket.retryAfterMs !== expected[i - start]!.retryAfterMs
        )
          bucketMismatches++;
        pending.push(remote.take(a.key, a.cost));
      }
      const got = await Promise.all(pending);
      for (let i = 0; i < got.length; i++) {
        const want = strip(expected[i]!);
        const have = strip(got[i]!);
        if (
          want.allowed !== have.allowed ||
          want.remaining !== have.remaining ||
          want.retryAfterMs !== have.retryAfterMs ||
          want.resetMs !== have.resetMs
        ) {
          if (mismatches++ === 0)
            first = `arrival ${start + i}: local ${JSON.stringify(want)} redis ${JSON.stringify(have)}`;
        }
      }
    }
    assert.equal(mismatches, 0, first);
    assert.equal(bucketMismatches, 0, 'bucket decisions that differ from the keyed ones');
    assert.deepEqual(held.stats(), local.stats());
    const l = local.stats();
    const r = remote.stats();
    assert.deepEqual([r.allowed, r.limited], [l.allowed, l.limited]);
    assert.equal(r.fallbacks, 0, 'every decision was Redis’s');
    // A trace that exercises both answers.
    assert.ok(l.limited > 100_000 && l.allowed > 100_000, JSON.stringify(l));
    await remote.close();
  });

  test('decides on the server clock by default, and batches a turn into one script call', async () => {
    const spy = mock.method(client, 'call');
    try {
      const limiter = new RedisRateLimiter({
        client,
        rate: { limit: 1, periodMs: 60_000 },
        burst: 3,
        prefix: `${prefix}time:`,
        timeoutMs: 5000,
      });
      const decisions = await Promise.all([1, 2, 3, 4, 5].map(() => limiter.take('k')));
      assert.deepEqual(
        decisions.map((d) => [d.allowed, d.remaining, d.source]),
        [
          [true, 2, 'redis'],
          [true, 1, 'redis'],
          [true, 0, 'redis'],
          [false, 0, 'redis'],
          [false, 0, 'redis'],
        ],
      );
      const refused = decisions[3]!;
      assert.ok(refused.retryAfterMs > 59_000 && refused.retryAfterMs <= 60_000);
      const evalshas = spy.mock.calls.filter((c) => c.arguments[0] === 'EVALSHA');
      assert.equal(evalshas.length, 1, 'five decisions of one turn, one script call');
      const ttl = await client.pttl(`${prefix}time:k`);
      assert.ok(ttl > 170_000 && ttl <= 180_000, `the key lives until the bucket is full: ${ttl}`);
      await limiter.close();
    } finally {
      spy.mock.restore();
    }
  });

  test('takes costs above 1 on the server clock', async () => {
    const limiter = new RedisRateLimiter({
      client,
      rate: { limit: 1, periodMs: 60_000 },
      burst: 5,
      prefix: `${prefix}cost2:`,
      timeoutMs: 5000,
    });
    const decisions = await Promise.all([2, 2, 2, 1, 0].map((c) => limiter.take('k', c)));
    assert.deepEqual(
      decisions.map((d) => [d.allowed, d.remaining]),
      [
        [true, 3],
        [true, 1],
        [false, 1],
        [true, 0],
        [true, 0],
      ],
    );
    await limiter.close();
  });

  test('splits a large turn evenly into calls of at most maxBatch decisions', async () => {
    const spy = mock.method(client, 'call');
    try {
      const limiter = new RedisRateLimiter({
        client,
        rate: 1000,
        burst: 1000,
        maxBatch: 128,
        prefix: `${prefix}batch:`,
        timeoutMs: 5000,
      });
      const decisions = await Promise.all(
        Array.from({ length: 300 }, (_, i) => limiter.take(`k${i % 7}`)),
      );
      assert.ok(decisions.every((d) => d.allowed && d.source === 'redis'));
      const sizes = spy.mock.calls
        .filter((c) => c.arguments[0] === 'EVALSHA')
        .map((c) => (c.arguments[1] as unknown as unknown[])[1]);
      assert.deepEqual(sizes, [100, 100, 100]);
      await limiter.close();
    } finally {
      spy.mock.restore();
    }
  });

  test('loads the script again after SCRIPT FLUSH, once for every call in flight', async () => {
    const server = new RedisServer();
    await server.start();
    try {
      const own = connect(server.url);
      await own.ping();
      const limiter = new RedisRateLimiter({
        client: own,
        rate: 100,
        burst: 1000,
        maxBatch: 50,
        timeoutMs: 5000,
        failPolicy: 'closed',
      });
      assert.equal((await limiter.take('k')).source, 'redis');
      assert.equal(limiter.stats().scriptLoads, 1);
      await own.script('FLUSH');
      const decisions = await Promise.all(Array.from({ length: 300 }, () => limiter.take('k')));
      assert.ok(decisions.every((d) => d.allowed && d.source === 'redis'));
      const stats = limiter.stats();
      assert.equal(stats.scriptLoads, 2, 'one reload for the six calls that met NOSCRIPT');
      assert.equal(stats.redisErrors, 0);
      assert.equal(stats.fallbacks, 0);
      await limiter.close();
      own.disconnect();
    } finally {
      await server.dispose();
    }
  });

  const policies: RateLimitFailPolicy[] = ['open', 'closed', 'local'];

  for (const failPolicy of policies) {
    test(`decides by failPolicy '${failPolicy}' at once while Redis is unreachable`, async () => {
      const port = await closedPort();
      const dead = new Redis(port, '127.0.0.1', { retryStrategy: () => 1000 });
      dead.on('error', () => undefined);
      clients.push(dead);
      const limiter = new RedisRateLimiter({
        client: dead,
        rate: 1,
        burst: 2,
        failPolicy,
        retryMs: 5000,
      });
      const decisions = await Promise.all([1, 2, 3].map(() => limiter.take('k')));
      const expected = {
        open: [
          [true, 'fail-open'],
          [true, 'fail-open'],
          [true, 'fail-open'],
        ],
        closed: [
          [false, 'fail-closed'],
          [false, 'fail-closed'],
          [false, 'fail-closed'],
        ],
        local: [
          [true, 'fallback'],
          [true, 'fallback'],
          [false, 'fallback'],
        ],
      }[failPolicy];
      assert.deepEqual(
        decisions.map((d) => [d.allowed, d.source]),
        expected,
      );
      // Retry once Redis is tried again: retryMs while the client is not connected.
      if (failPolicy === 'closed') assert.equal(decisions[0]!.retryAfterMs, 5000);
      const stats = limiter.stats();
      assert.equal(stats.fallbacks, 3);
      assert.equal(stats.redisErrors, 0, 'nothing was sent');
      await limiter.close();
      dead.disconnect();
    });

    test(`decides by failPolicy '${failPolicy}' when a frozen Redis does not answer within timeoutMs`, async () => {
      const frozen = await frozenServer();
      const stuck = new Redis(frozen.port, '127.0.0.1', {
        // Ready as soon as connected: no INFO or CLIENT SETINFO awaiting an answer first.
        enableReadyCheck: false,
        disableClientInfo: true,
        maxRetriesPerRequest: null,
      });
      stuck.on('error', () => undefined);
      clients.push(stuck);
      await once(stuck, 'ready');
      const limiter = new RedisRateLimiter({
        client: stuck,
        rate: 1,
        burst: 2,
        failPolicy,
        timeoutMs: 50,
        retryMs: 60_000,
      });
      const errors: RateLimitErrorMessage[] = [];
      const onError = (m: unknown) => errors.push(m as RateLimitErrorMessage);
      subscribe('hotpath:resilience:rate-limit-error', onError);
      let decisions: RateLimitDecision[];
      try {
        decisions = await Promise.all([1, 2, 3].map(() => limiter.take('k')));
      } finally {
        unsubscribe('hotpath:resilience:rate-limit-error', onError);
      }
      assert.equal(errors.length, 1, 'one failure published');
      assert.equal(errors[0]!.decisions, 3);
      assert.match(String((errors[0]!.error as Error).message), /did not answer within 50 ms/);
      const allowed = decisions.map((d) => d.allowed);
      assert.deepEqual(
        allowed,
        { open: [true, true, true], closed: [false, false, false], local: [true, true, false] }[
          failPolicy
        ],
      );
      let stats = limiter.stats();
      assert.equal(stats.timeouts, 1, 'one call for the turn, timed out');
      assert.equal(stats.redisErrors, 1);
      assert.equal(stats.fallbacks, 3);
      // Left alone for retryMs: the next decision does not wait for Redis again.
      const next = await limiter.take('other');
      assert.notEqual(next.source, 'redis');
      stats = limiter.stats();
      assert.equal(stats.timeouts, 1);
      assert.equal(stats.fallbacks, 4);
      await limiter.close();
      stuck.disconnect();
      await frozen.close();
    });
  }

  test('refuses decisions after close with HP_ERR_CLOSED', async () => {
    const limiter = new RedisRateLimiter({ client, rate: 1, prefix: `${prefix}closed:` });
    await limiter.close();
    await assert.rejects(limiter.take('k'), { code: 'HP_ERR_CLOSED' });
  });

  test('refuses a cost above the burst with HP_ERR_RATE_LIMIT_COST', async () => {
    const limiter = new RedisRateLimiter({ client, rate: 1, burst: 2, prefix: `${prefix}cost:` });
    await assert.rejects(limiter.take('k', 3), { code: 'HP_ERR_RATE_LIMIT_COST' });
    await limiter.close();
  });

  test('checks its options in the constructor', () => {
    const bad: [object, string][] = [
      [{ rate: 1 }, 'client'],
      [{ client, rate: 1, failPolicy: 'maybe' }, 'failPolicy'],
      [{ client, rate: 1, time: 'gps' }, 'time'],
      [{ client, rate: 1, maxBatch: 0 }, 'maxBatch'],
      [{ client, rate: 1, timeoutMs: 0 }, 'timeoutMs'],
      [{ client, rate: 1, fallback: {} }, 'fallback'],
      [{ client, rate: 1, prefix: 7 }, 'prefix'],
    ];
    for (const [options, option] of bad) {
      assert.throws(
        () => new RedisRateLimiter(options as never),
        (e: unknown) =>
          (e as { code?: string }).code === 'HP_ERR_INVALID_OPTION' &&
          (e as { option?: string }).option === option,
        option,
      );
    }
  });
});
