import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { LocalRateLimiter, RateLimitHeaders, type Rate } from './index.js';

function manualClock() {
  let t = 0;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

const policyOf = (rate: Rate, burst = 1) => new LocalRateLimiter({ rate, burst }).policy;

describe('RateLimitHeaders', () => {
  test('states the policy as a quota per whole-second window', () => {
    assert.equal(
      new RateLimitHeaders(policyOf({ limit: 100, periodMs: 60_000 })).policy,
      '"default";q=100;w=60',
    );
    assert.equal(new RateLimitHeaders(policyOf(10_000), 'api').policy, '"api";q=10000;w=1');
    assert.equal(
      new RateLimitHeaders(policyOf({ limit: 5, periodMs: 500 })).policy,
      '"default";q=10;w=1',
    );
    assert.equal(new RateLimitHeaders(policyOf(0.5)).policy, '"default";q=1;w=2');
  });

  test('counts remaining units and the seconds until the next one', () => {
    const clock = manualClock();
    // One unit per 2.5 s, burst 4.
    const limiter = new LocalRateLimiter({ rate: { limit: 2, periodMs: 5000 }, burst: 4, clock });
    const headers = new RateLimitHeaders(limiter.policy);
    assert.equal(headers.limit(limiter.takeSync('k', 0)), '"default";r=4;t=0');
    assert.equal(headers.limit(limiter.takeSync('k')), '"default";r=3;t=3');
    limiter.takeSync('k', 3);
    clock.advance(1000);
    assert.equal(headers.limit(limiter.takeSync('k', 0)), '"default";r=0;t=2');
    const refused = limiter.takeSync('k', 2);
    assert.equal(refused.retryAfterMs, 4000);
    assert.equal(headers.retryAfter(refused), '4');
    assert.equal(headers.limit(refused), '"default";r=0;t=4', 't equals Retry-After on a refusal');
  });

  test('rounds Retry-After up to a whole second, at least 1', () => {
    const clock = manualClock();
    const limiter = new LocalRateLimiter({ rate: 1000, burst: 1, clock });
    const headers = new RateLimitHeaders(limiter.policy);
    limiter.takeSync('k');
    const refused = limiter.takeSync('k');
    assert.equal(refused.retryAfterMs, 1);
    assert.equal(headers.retryAfter(refused), '1');
  });

  test('refuses a policy name that is not a plain structured-field string', () => {
    assert.throws(() => new RateLimitHeaders(policyOf(1), 'a"b'), {
      code: 'HP_ERR_INVALID_OPTION',
    });
    assert.throws(() => new RateLimitHeaders(policyOf(1), ''), { code: 'HP_ERR_INVALID_OPTION' });
  });
});
