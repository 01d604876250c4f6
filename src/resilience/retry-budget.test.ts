import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { RetryBudget } from './index.js';

function manualClock(start = 0) {
  let now = start;
  return {
    now: () => now,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

function record(budget: RetryBudget, calls: number): void {
  for (let i = 0; i < calls; i++) budget.recordCall();
}

/** Retries granted until the budget refuses one. */
function drain(budget: RetryBudget): number {
  let granted = 0;
  while (budget.tryRetry()) granted++;
  return granted;
}

describe('RetryBudget', () => {
  test('grants retries up to retryRatio of the calls in the window', () => {
    const clock = manualClock();
    const budget = new RetryBudget({ retryRatio: 0.1, minRetriesPerSecond: 0, clock });
    record(budget, 100);
    assert.equal(budget.available, 10);
    assert.equal(drain(budget), 10);
    assert.equal(budget.tryRetry(), false);
    assert.deepEqual(budget.stats, { calls: 100, retries: 10, available: 0, refused: 2 });
  });

  test('keeps a reserve of minRetriesPerSecond per second of window with no calls at all', () => {
    const clock = manualClock();
    const budget = new RetryBudget({ minRetriesPerSecond: 2, windowMs: 5000, clock });
    assert.equal(drain(budget), 10);
  });

  test('adds the reserve to the share of calls', () => {
    const clock = manualClock();
    const budget = new RetryBudget({
      retryRatio: 0.2,
      minRetriesPerSecond: 1,
      windowMs: 10_000,
      clock,
    });
    record(budget, 50);
    assert.equal(drain(budget), 10 + 10);
  });

  test('once exhausted, recovers as the window slides past the retries', () => {
    const clock = manualClock();
    const budget = new RetryBudget({
      retryRatio: 0.1,
      minRetriesPerSecond: 0,
      windowMs: 10_000,
      clock,
    });
    record(budget, 100);
    assert.equal(drain(budget), 10);
    clock.advance(5000);
    assert.equal(budget.tryRetry(), false, 'the retries still count half a window later');
    record(budget, 100);
    assert.equal(drain(budget), 10, 'new calls add to the budget');
    clock.advance(5000);
    // t = 10 s: the first 100 calls and their 10 retries left the window; the later ones stay.
    assert.deepEqual(budget.stats, { calls: 100, retries: 10, available: 0, refused: 3 });
    clock.advance(5000);
    assert.deepEqual(budget.stats, { calls: 0, retries: 0, available: 0, refused: 3 });
    record(budget, 30);
    assert.equal(drain(budget), 3);
  });

  test('a call or retry leaves the window between 0.9 and 1 window after it', () => {
    const clock = manualClock();
    const budget = new RetryBudget({
      retryRatio: 1,
      minRetriesPerSecond: 0,
      windowMs: 10_000,
      clock,
    });
    clock.advance(500); // mid-slot: slots are 1 s
    record(budget, 1);
    clock.advance(9000); // t = 9.5 s, slot 9: the call's slot 0 is still in the window
    assert.equal(budget.available, 1);
    clock.advance(500); // t = 10 s, slot 10: slot 0 left
    assert.equal(budget.available, 0);
  });

  test('counts calls between clock reads no later than they were made (never too generous)', () => {
    // recordCall reads the clock once per 16 calls; calls in between count at the last read.
    const clock = manualClock();
    const budget = new RetryBudget({
      retryRatio: 1,
      minRetriesPerSecond: 0,
      windowMs: 10_000,
      clock,
    });
    clock.advance(9500);
    record(budget, 5); // counted in slot 0, the last read
    clock.advance(500);
    assert.equal(budget.available, 0, 'they leave with slot 0, up to a slot early');
  });

  test('a clock that goes back leaves the window where it was', () => {
    const clock = manualClock(50_000);
    const budget = new RetryBudget({ retryRatio: 1, minRetriesPerSecond: 0, clock });
    record(budget, 3);
    clock.advance(-20_000);
    assert.equal(budget.available, 3);
  });

  test('checks its options', () => {
    assert.throws(() => new RetryBudget({ retryRatio: -0.1 }), {
      code: 'HP_ERR_INVALID_OPTION',
      option: 'retryRatio',
    });
    assert.throws(() => new RetryBudget({ minRetriesPerSecond: Number.NaN }), {
      option: 'minRetriesPerSecond',
    });
    assert.throws(() => new RetryBudget({ windowMs: 0 }), { option: 'windowMs' });
  });
});
