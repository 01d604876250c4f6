import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { describe, test } from 'node:test';
import {
  LocalRateLimiter,
  RateLimitCostError,
  RateLimitedError,
  type RateLimitedMessage,
} from './index.js';

function manualClock() {
  let t = 0;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

describe('LocalRateLimiter', () => {
  test('keeps one bucket per key', () => {
    const clock = manualClock();
    const limiter = new LocalRateLimiter({ rate: 1, burst: 2, clock });
    assert.equal(limiter.takeSync('a').allowed, true);
    assert.equal(limiter.takeSync('a').allowed, true);
    assert.equal(limiter.takeSync('a').allowed, false);
    assert.equal(limiter.takeSync('b').allowed, true);
    clock.advance(1000);
    assert.equal(limiter.takeSync('a').allowed, true);
    assert.deepEqual(limiter.stats(), {
      allowed: 4,
      limited: 1,
      redisErrors: 0,
      fallbacks: 0,
      evicted: 0,
      keys: 2,
    });
  });

  test('take resolves with the same decision as takeSync would', async () => {
    const clock = manualClock();
    const limiter = new LocalRateLimiter({ rate: { limit: 60, periodMs: 60_000 }, clock });
    assert.equal(limiter.policy.burst, 60);
    const decision = await limiter.take('k', 60);
    assert.deepEqual(decision, {
      allowed: true,
      remaining: 0,
      retryAfterMs: 0,
      resetMs: 60_000,
      source: 'local',
    });
    const refused = await limiter.take('k');
    assert.equal(refused.retryAfterMs, 1000);
  });

  test('tryTake gives the decisions takeSync gives, in one object it writes over each call', () => {
    const clockA = manualClock();
    const clockB = manualClock();
    const a = new LocalRateLimiter({ rate: 2, burst: 3, clock: clockA });
    const b = new LocalRateLimiter({ rate: 2, burst: 3, clock: clockB });
    const first = a.tryTake('k');
    b.takeSync('k');
    const costs = [2, 1, 0, 3, 1, 1];
    const steps = [0, 250, 0, 400, 1500, 0];
    for (let i = 0; i < costs.length; i++) {
      clockA.advance(steps[i]!);
      clockB.advance(steps[i]!);
      const fast = a.tryTake('k', costs[i]!);
      const own = b.takeSync('k', costs[i]!);
      assert.equal(fast, first);
      assert.deepEqual(
        {
          allowed: fast.allowed,
          remaining: fast.remaining,
          retryAfterMs: fast.retryAfterMs,
          resetMs: fast.resetMs,
          source: fast.source,
        },
        own,
      );
    }
    assert.ok(a.stats().limited > 0 && a.stats().allowed > 0);
    assert.deepEqual(JSON.parse(JSON.stringify(a.tryTake('k', 0))), b.takeSync('k', 0));
    assert.deepEqual(a.stats(), b.stats());
  });

  test('tryTake refuses a bad cost and a closed limiter as takeSync does', async () => {
    const limiter = new LocalRateLimiter({ rate: 1, burst: 2 });
    assert.throws(() => limiter.tryTake('k', 3), { code: 'HP_ERR_RATE_LIMIT_COST' });
    assert.throws(() => limiter.tryTake('k', 1.5), { code: 'HP_ERR_RATE_LIMIT_COST' });
    await limiter.close();
    assert.throws(() => limiter.tryTake('k'), { code: 'HP_ERR_CLOSED' });
  });

  test('tryTake publishes a refusal with a decision of its own', () => {
    const clock = manualClock();
    const limiter = new LocalRateLimiter({ rate: 1, burst: 1, clock, name: 'api' });
    const seen: RateLimitedMessage[] = [];
    const onMessage = (message: unknown) => seen.push(message as RateLimitedMessage);
    subscribe('hotpath:resilience:rate-limited', onMessage);
    try {
      limiter.tryTake('k');
      limiter.tryTake('k');
      limiter.tryTake('other');
    } finally {
      unsubscribe('hotpath:resilience:rate-limited', onMessage);
    }
    assert.equal(seen.length, 1);
    assert.deepEqual(seen[0], {
      name: 'api',
      key: 'k',
      cost: 1,
      decision: {
        allowed: false,
        remaining: 0,
        retryAfterMs: 1000,
        resetMs: 1000,
        source: 'local',
      },
    });
  });

  test('execute runs the call when allowed and rejects with HP_ERR_RATE_LIMITED otherwise', async () => {
    const clock = manualClock();
    const limiter = new LocalRateLimiter({ rate: 1, burst: 1, clock });
    assert.equal(await limiter.execute('k', () => Promise.resolve('ran')), 'ran');
    let ran = false;
    await assert.rejects(
      limiter.execute('k', async () => {
        ran = true;
      }),
      (e: unknown) =>
        e instanceof RateLimitedError &&
        e.code === 'HP_ERR_RATE_LIMITED' &&
        e.retryAfterMs === 1000,
    );
    assert.equal(ran, false);
  });

  test('a cost above the burst is refused with HP_ERR_RATE_LIMIT_COST, not denied', async () => {
    const limiter = new LocalRateLimiter({ rate: 10, burst: 5 });
    assert.throws(() => limiter.takeSync('k', 6), RateLimitCostError);
    await assert.rejects(limiter.take('k', 6), RateLimitCostError);
    await assert.rejects(
      limiter.execute('k', () => Promise.resolve(1), 6),
      RateLimitCostError,
    );
    assert.deepEqual([limiter.stats().allowed, limiter.stats().limited], [0, 0]);
  });

  test('forgets keys whose bucket is full again before evicting live ones', () => {
    const clock = manualClock();
    const limiter = new LocalRateLimiter({ rate: 10, burst: 1, maxKeys: 10, clock });
    for (let i = 0; i < 10; i++) limiter.takeSync(`old${i}`);
    clock.advance(100); // every bucket is full again
    for (let i = 0; i < 5; i++) limiter.takeSync(`new${i}`);
    assert.equal(limiter.size, 5);
    assert.equal(limiter.stats().evicted, 0);
    for (let i = 5; i < 12; i++) limiter.takeSync(`new${i}`);
    assert.ok(limiter.size <= 10);
    assert.ok(limiter.stats().evicted > 0, 'live keys were evicted past maxKeys');
    // The newest key is still remembered.
    assert.equal(limiter.takeSync('new11').allowed, false);
  });

  test('publishes refusals on hotpath:resilience:rate-limited', () => {
    const seen: RateLimitedMessage[] = [];
    const listener = (m: unknown) => seen.push(m as RateLimitedMessage);
    subscribe('hotpath:resilience:rate-limited', listener);
    try {
      const limiter = new LocalRateLimiter({
        rate: 1,
        burst: 1,
        name: 'api',
        clock: manualClock(),
      });
      limiter.takeSync('k');
      limiter.takeSync('k', 1);
      assert.equal(seen.length, 1);
      assert.equal(seen[0]!.name, 'api');
      assert.equal(seen[0]!.key, 'k');
      assert.equal(seen[0]!.decision.allowed, false);
    } finally {
      unsubscribe('hotpath:resilience:rate-limited', listener);
    }
  });

  test('refuses decisions after close with HP_ERR_CLOSED', async () => {
    const limiter = new LocalRateLimiter({ rate: 1 });
    await limiter.close();
    assert.throws(() => limiter.takeSync('k'), { code: 'HP_ERR_CLOSED' });
    await assert.rejects(limiter.take('k'), { code: 'HP_ERR_CLOSED' });
  });

  test('checks its options in the constructor', () => {
    const bad: [object, string][] = [
      [{}, 'rate'],
      [{ rate: 1, maxKeys: 0 }, 'maxKeys'],
      [{ rate: 1, clock: {} }, 'clock'],
    ];
    for (const [options, option] of bad) {
      assert.throws(
        () => new LocalRateLimiter(options as never),
        (e: unknown) =>
          (e as { code?: string }).code === 'HP_ERR_INVALID_OPTION' &&
          (e as { option?: string }).option === option,
      );
    }
  });
});
