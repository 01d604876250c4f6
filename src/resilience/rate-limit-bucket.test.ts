import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { describe, test } from 'node:test';
import type { RateLimitBucket } from './index.js';
import { LocalRateLimiter, type RateLimitDecision, type RateLimitedMessage } from './index.js';

function manualClock() {
  let t = 0;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

/** mulberry32: a small seeded generator, so a trace is the same on every run. */
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

interface Step {
  advanceMs: number;
  key: string;
  cost: number;
  /** How the limiter under test is asked: through a held bucket, or by key. */
  via: 'bucket' | 'key';
}

/** `n` steps over `keys` keys: exponential gaps (some 0), costs 1 (most), 0, 2 or 5. */
function trace(n: number, keys: number, seed: number, meanGapMs: number): Step[] {
  const next = random(seed);
  const steps: Step[] = [];
  for (let i = 0; i < n; i++) {
    const r = next();
    steps.push({
      advanceMs: next() < 0.3 ? 0 : Math.round(-Math.log(1 - next()) * meanGapMs * 1000) / 1000,
      key: `k${Math.floor(next() * keys)}`,
      cost: r < 0.8 ? 1 : r < 0.85 ? 0 : r < 0.95 ? 2 : 5,
      via: next() < 0.7 ? 'bucket' : 'key',
    });
  }
  return steps;
}

const plain = (d: RateLimitDecision) => ({
  allowed: d.allowed,
  remaining: d.remaining,
  retryAfterMs: d.retryAfterMs,
  resetMs: d.resetMs,
  source: d.source,
});

/**
 * Runs `steps` on two limiters of the same options: one asked through buckets made before any
 * key existed (or by key, as each step says), the other by key only. Returns the first step
 * whose decisions differ (or -1) and both limiters' stats.
 */
function runTwins(steps: Step[], options: { rate: number; burst: number; maxKeys?: number }) {
  const clock = manualClock();
  const held = new LocalRateLimiter({ ...options, clock });
  const keyed = new LocalRateLimiter({ ...options, clock });
  const buckets = new Map<string, RateLimitBucket>();
  for (const s of steps) if (!buckets.has(s.key)) buckets.set(s.key, held.bucket(s.key));
  let firstMismatch = -1;
  let detail = '';
  steps.forEach((s, i) => {
    clock.advance(s.advanceMs);
    const got = plain(
      s.via === 'bucket' ? buckets.get(s.key)!.tryTake(s.cost) : held.tryTake(s.key, s.cost),
    );
    const want = plain(keyed.tryTake(s.key, s.cost));
    if (firstMismatch < 0 && JSON.stringify(got) !== JSON.stringify(want)) {
      firstMismatch = i;
      detail = `step ${i} ${JSON.stringify(s)}: ${JSON.stringify(got)} vs ${JSON.stringify(want)}`;
    }
  });
  return { firstMismatch, detail, held: held.stats(), keyed: keyed.stats() };
}

describe('RateLimitBucket', () => {
  test('gives tryTake(key)’s decisions on a recorded trace of 200,000 steps over 16 keys', () => {
    const steps = trace(200_000, 16, 20_261_203, 0.02);
    const { firstMismatch, detail, held, keyed } = runTwins(steps, { rate: 2000, burst: 20 });
    assert.equal(firstMismatch, -1, detail);
    assert.deepEqual(held, keyed);
    // A trace that exercises both answers.
    assert.ok(held.allowed > 50_000 && held.limited > 50_000, JSON.stringify(held));
  });

  test('keeps giving the keyed decisions while keys are forgotten and evicted past maxKeys', () => {
    // 12 keys in a map of at most 4: records leave the map all the time, full or not.
    const steps = trace(100_000, 12, 7, 0.05);
    const { firstMismatch, detail, held, keyed } = runTwins(steps, {
      rate: 1000,
      burst: 10,
      maxKeys: 4,
    });
    assert.equal(firstMismatch, -1, detail);
    assert.deepEqual(held, keyed);
    assert.ok(held.evicted > 1000, `evicted ${held.evicted}`);
  });

  test('shares its key’s state with tryTake(key), in either order', () => {
    const clock = manualClock();
    const limiter = new LocalRateLimiter({ rate: 1, burst: 3, clock });
    const bucket = limiter.bucket('a');
    assert.equal(bucket.key, 'a');
    assert.equal(limiter.tryTake('a').allowed, true);
    assert.equal(bucket.tryTake().allowed, true);
    assert.equal(limiter.tryTake('a').allowed, true);
    assert.deepEqual(plain(bucket.tryTake()), {
      allowed: false,
      remaining: 0,
      retryAfterMs: 1000,
      resetMs: 3000,
      source: 'local',
    });
    assert.equal(limiter.tryTake('a').allowed, false);
    clock.advance(1000);
    assert.equal(bucket.tryTake().allowed, true);
    assert.equal(limiter.tryTake('a').allowed, false);
    assert.equal(limiter.bucket('a').tryTake().allowed, false, 'a second bucket of the key');
    assert.deepEqual(limiter.stats(), {
      allowed: 4,
      limited: 4,
      redisErrors: 0,
      fallbacks: 0,
      evicted: 0,
      keys: 1,
    });
  });

  test('restarts with a full burst after its record is evicted, as a keyed call would, then shares the new record', () => {
    const clock = manualClock();
    const limiter = new LocalRateLimiter({ rate: 1, burst: 2, maxKeys: 2, clock });
    const a = limiter.bucket('a');
    assert.equal(a.tryTake().allowed, true);
    assert.equal(a.tryTake().allowed, true);
    assert.equal(a.tryTake().allowed, false);
    limiter.tryTake('b');
    limiter.tryTake('c'); // map full, no bucket full again: the oldest ('a') is evicted
    assert.equal(limiter.stats().evicted, 1);
    assert.equal(a.tryTake().allowed, true, 'a full burst again');
    assert.equal(limiter.tryTake('a').allowed, true, 'the keyed call sees the same record');
    assert.equal(a.tryTake().allowed, false);
    assert.equal(limiter.tryTake('a').allowed, false);
  });

  test('a forgotten full bucket changes no decision', () => {
    const clock = manualClock();
    const limiter = new LocalRateLimiter({ rate: 1, burst: 2, maxKeys: 2, clock });
    const a = limiter.bucket('a');
    a.tryTake(2);
    clock.advance(2000); // 'a' is full again
    limiter.tryTake('b');
    limiter.tryTake('c'); // the sweep forgets 'a' (full): nothing evicted
    assert.deepEqual([limiter.stats().evicted, limiter.size], [0, 2]);
    assert.equal(a.tryTake(2).allowed, true);
    assert.equal(a.tryTake().allowed, false);
  });

  test('made before its key exists, it uses the record a keyed call makes', () => {
    const clock = manualClock();
    const limiter = new LocalRateLimiter({ rate: 1, burst: 2, clock });
    const a = limiter.bucket('a');
    assert.equal(a.tryTake(0).allowed, true, 'cost 0 reads and stores nothing');
    assert.equal(limiter.size, 0);
    limiter.tryTake('a', 2);
    assert.equal(a.tryTake().allowed, false);
  });

  test('writes over one decision object of its own', () => {
    const clock = manualClock();
    const limiter = new LocalRateLimiter({ rate: 1, burst: 1, clock });
    const a = limiter.bucket('a');
    const b = limiter.bucket('b');
    const first = a.tryTake();
    assert.equal(first.allowed, true);
    assert.equal(b.tryTake(), b.tryTake(), 'the same object each call');
    assert.equal(first.allowed, true, 'another bucket’s call leaves it alone');
    assert.equal(limiter.tryTake('x').allowed, true, 'so does the limiter’s own tryTake');
    assert.equal(first.allowed, true);
    assert.equal(a.tryTake(), first);
    assert.equal(first.allowed, false);
    assert.deepEqual(JSON.parse(JSON.stringify(first)), {
      allowed: false,
      remaining: 0,
      retryAfterMs: 1000,
      resetMs: 1000,
      source: 'local',
    });
  });

  test('refuses a bad cost with HP_ERR_RATE_LIMIT_COST and a closed limiter with HP_ERR_CLOSED', async () => {
    const limiter = new LocalRateLimiter({ rate: 1, burst: 2 });
    const a = limiter.bucket('a');
    assert.throws(() => a.tryTake(3), { code: 'HP_ERR_RATE_LIMIT_COST' });
    assert.throws(() => a.tryTake(1.5), { code: 'HP_ERR_RATE_LIMIT_COST' });
    await limiter.close();
    assert.throws(() => a.tryTake(), { code: 'HP_ERR_CLOSED' });
    assert.throws(() => limiter.bucket('b'), { code: 'HP_ERR_CLOSED' });
  });

  test('publishes its refusals on hotpath:resilience:rate-limited with its key', () => {
    const clock = manualClock();
    const limiter = new LocalRateLimiter({ rate: 1, burst: 1, clock, name: 'route' });
    const a = limiter.bucket('POST /x');
    const messages: RateLimitedMessage[] = [];
    const listener = (m: unknown) => messages.push(m as RateLimitedMessage);
    subscribe('hotpath:resilience:rate-limited', listener);
    try {
      a.tryTake();
      a.tryTake();
    } finally {
      unsubscribe('hotpath:resilience:rate-limited', listener);
    }
    assert.equal(messages.length, 1);
    assert.deepEqual(
      { ...messages[0]!, decision: plain(messages[0]!.decision) },
      {
        name: 'route',
        key: 'POST /x',
        cost: 1,
        decision: {
          allowed: false,
          remaining: 0,
          retryAfterMs: 1000,
          resetMs: 1000,
          source: 'local',
        },
      },
    );
  });
});
