import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { checkCost, gcra, resolvePolicy, toDecision, type RateLimitPolicy } from './gcra.js';
import { RateLimitCostError } from './index.js';

/** A bucket driven by hand: the stored time and the clock, in µs. */
function bucket(policy: RateLimitPolicy) {
  let tat: number | undefined;
  return (nowUs: number, cost = 1) => {
    const outcome = gcra(tat, nowUs, cost, policy.intervalUs, policy.toleranceUs);
    if (outcome >= 0) tat = nowUs + outcome;
    return toDecision(outcome, cost, policy, 'local');
  };
}

describe('GCRA', () => {
  test('grants the burst at once, then one unit per interval', () => {
    const policy = resolvePolicy(10, 5); // one unit per 100 ms
    assert.equal(policy.intervalUs, 100_000);
    assert.equal(policy.toleranceUs, 500_000);
    const take = bucket(policy);
    const burst = [0, 0, 0, 0, 0].map((t) => take(t));
    assert.deepEqual(
      burst.map((d) => [d.allowed, d.remaining]),
      [
        [true, 4],
        [true, 3],
        [true, 2],
        [true, 1],
        [true, 0],
      ],
    );
    const refused = take(0);
    assert.equal(refused.allowed, false);
    assert.equal(refused.retryAfterMs, 100);
    assert.equal(refused.resetMs, 500);
    // Steady rate: one more each 100 ms, never two.
    for (let k = 1; k <= 20; k++) {
      assert.equal(take(k * 100_000 - 1).allowed, false, `just before ${k * 100} ms`);
      assert.equal(take(k * 100_000).allowed, true, `at ${k * 100} ms`);
      assert.equal(take(k * 100_000).allowed, false, `twice at ${k * 100} ms`);
    }
  });

  test('refills to the burst, not beyond, after a pause', () => {
    const take = bucket(resolvePolicy(10, 3));
    for (let i = 0; i < 3; i++) assert.equal(take(0).allowed, true);
    const later = 10_000_000; // 10 s: 100 intervals, the bucket holds 3
    const grants = [0, 0, 0, 0].map(() => take(later).allowed);
    assert.deepEqual(grants, [true, true, true, false]);
  });

  test('a cost above 1 takes that many units and waits for all of them', () => {
    const take = bucket(resolvePolicy(10, 5));
    const first = take(0, 3);
    assert.deepEqual([first.allowed, first.remaining], [true, 2]);
    const second = take(0, 3);
    assert.equal(second.allowed, false);
    assert.equal(second.remaining, 2, 'a refusal consumes nothing');
    assert.equal(second.retryAfterMs, 100, 'one more unit is missing');
    assert.equal(take(0, 2).allowed, true, 'the 2 left are still there');
    const third = take(0, 5);
    assert.equal(third.retryAfterMs, 500);
    assert.equal(take(500_000, 5).allowed, true);
  });

  test('retry-after is exact to the microsecond', () => {
    const take = bucket(resolvePolicy({ limit: 3, periodMs: 1000 }, 1));
    assert.equal(take(0).allowed, true);
    const refused = take(1);
    assert.equal(refused.retryAfterMs, 333.333, '333,334 µs interval less the 1 µs elapsed');
    assert.equal(take(333_333).allowed, false);
    assert.equal(take(333_334).allowed, true);
  });

  test('a cost of 0 only reads the bucket', () => {
    const take = bucket(resolvePolicy(10, 2));
    take(0);
    const peek = take(0, 0);
    assert.deepEqual([peek.allowed, peek.remaining], [true, 1]);
    assert.equal(take(0).allowed, true);
    assert.equal(take(0, 0).remaining, 0);
  });

  test('a clock that goes back counts as no time passing', () => {
    const take = bucket(resolvePolicy(10, 2));
    take(1_000_000);
    take(1_000_000);
    const back = take(900_000);
    assert.equal(back.allowed, false);
    assert.equal(back.remaining, 0);
  });

  test('a cost above the burst, negative or fractional is refused with an error', () => {
    const policy = resolvePolicy(10, 5);
    for (const cost of [6, -1, 1.5, NaN]) {
      assert.throws(
        () => checkCost(cost, policy),
        (e: unknown) => e instanceof RateLimitCostError && e.code === 'HP_ERR_RATE_LIMIT_COST',
      );
    }
    checkCost(5, policy);
    checkCost(0, policy);
  });
});

describe('resolvePolicy', () => {
  test('rounds the interval up to a whole microsecond, keeping exact ones', () => {
    assert.equal(resolvePolicy(3, 1).intervalUs, 333_334);
    assert.equal(resolvePolicy(1000, 1).intervalUs, 1000);
    assert.equal(resolvePolicy({ limit: 100, periodMs: 60_000 }, 1).intervalUs, 600_000);
    assert.equal(resolvePolicy({ limit: 0.5, periodMs: 1000 }, 1).intervalUs, 2_000_000);
    assert.equal(resolvePolicy(1_000_000, 1).intervalUs, 1);
  });

  test('the burst defaults to the limit', () => {
    assert.equal(resolvePolicy({ limit: 100, periodMs: 60_000 }, undefined).burst, 100);
    assert.equal(resolvePolicy(0.5, undefined).burst, 1);
  });

  test('refuses bad rates and bursts, naming the option', () => {
    const cases: [unknown, unknown, string][] = [
      [0, 1, 'rate'],
      [-5, 1, 'rate'],
      ['10', 1, 'rate'],
      [2_000_000, 1, 'rate'],
      [{ limit: 10 }, 1, 'rate.periodMs'],
      [{ limit: 0, periodMs: 1000 }, 1, 'rate.limit'],
      [10, 0, 'burst'],
      [10, 1.5, 'burst'],
      [0.001, 2 ** 40, 'burst'],
    ];
    for (const [rate, burst, option] of cases) {
      assert.throws(
        () => resolvePolicy(rate, burst),
        (e: unknown) =>
          (e as { code?: string }).code === 'HP_ERR_INVALID_OPTION' &&
          (e as { option?: string }).option === option,
        `${JSON.stringify(rate)} / ${String(burst)}`,
      );
    }
  });
});
