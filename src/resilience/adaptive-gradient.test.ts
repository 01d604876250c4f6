import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { GradientLimit, type GradientLimitOptions } from './index.js';

/**
 * Drives a GradientLimit by hand: each `round()` feeds `roundSamples` (8) completed calls of
 * the given latency and in-flight count, spread over more than one baseline, all started
 * after the previous round ended (so none is discarded as stale).
 */
function driver(options: GradientLimitOptions = {}) {
  const limit = new GradientLimit(options);
  let now = 1000;
  /** One round; `rtt` may depend on the limit (a queue: latency follows concurrency). */
  const round = (
    rtt: number | ((limit: number) => number),
    inFlight: number | 'limit' = 'limit',
    didDrop = false,
  ) => {
    const rttMs = typeof rtt === 'number' ? rtt : rtt(limit.limit);
    now += rttMs;
    const spacing = Math.max(rttMs, Number.isNaN(limit.baselineMs) ? 0 : limit.baselineMs) / 4;
    for (let i = 0; i < 8; i++) {
      now += spacing;
      limit.update({
        nowMs: now,
        rttMs,
        inFlight: inFlight === 'limit' ? limit.limit : inFlight,
        didDrop,
      });
      if (didDrop) break;
    }
    return limit.limit;
  };
  return { limit, round, elapse: (ms: number) => (now += ms) };
}

describe('GradientLimit', () => {
  test('grows while latency stays at its baseline and the limit is used: doubling, up to maxLimit', () => {
    const { round } = driver({ initialLimit: 10, maxLimit: 100 });
    assert.deepEqual(
      [round(10), round(10), round(10), round(10), round(10)],
      [20, 40, 80, 100, 100],
    );
  });

  test('does not grow when in flight stays well under the limit', () => {
    const { round } = driver({ initialLimit: 20 });
    for (let i = 0; i < 50; i++) assert.equal(round(10, 5), 20);
    // 80% of the limit counts as used.
    assert.equal(round(10, 16), 40);
  });

  test('shrinks to what the dependency served without queueing (Little) when latency rises', () => {
    const { round, limit } = driver({ initialLimit: 20 });
    assert.equal(round(10), 40); // baseline 10 ms, slow start
    assert.equal(round(40), 20); // 40 in flight x 10/40
    assert.equal(round(20), 10); // 20 x max(0.5, 10/20)
    assert.equal(limit.baselineMs, 10);
    assert.equal(limit.lastRoundMs, 20);
    // Back at the baseline: slow start is over, growth is additive (+sqrt(limit)).
    assert.equal(round(10), 13);
    assert.equal(round(10), 16);
  });

  test('grows up to halfway to the tolerance, holds beyond, shrinks past the tolerance', () => {
    const { round } = driver({ initialLimit: 20, tolerance: 1.5 });
    assert.equal(round(10), 40);
    assert.equal(round(12.5), 80); // 1.25 x the baseline: still grows
    assert.equal(round(14), 80); // 1.4 x: holds
    assert.equal(round(15), 80); // 1.5 x: holds
    assert.equal(round(16), 50); // 1.6 x: 80 in flight x 10/16
  });

  test('one round shrinks the limit by half at most', () => {
    const { round } = driver({ initialLimit: 20 });
    assert.equal(round(10), 40);
    assert.equal(round(100), 20);
  });

  test('never goes below minLimit while latency follows concurrency (a queue)', () => {
    const { round } = driver({ initialLimit: 8, minLimit: 4 });
    assert.equal(round(10), 16);
    const queue = (limit: number) => 50 + 10 * limit; // 90 ms even at the minimum
    assert.deepEqual([round(queue), round(queue)], [8, 4]);
    for (let i = 0; i < 8; i++) assert.equal(round(queue), 4);
  });

  test('a slower dependency is not a queue: when shrinking does not help, its latency becomes the baseline', () => {
    const { round, limit } = driver({ initialLimit: 20 });
    assert.equal(round(10), 40);
    assert.equal(round(100), 20); // 40 in flight, 10x the baseline: shrink
    assert.equal(limit.baselineMs, 10);
    // Half as many in flight and no faster: the dependency slowed down, nothing queues here.
    assert.equal(round(100), 20);
    assert.equal(limit.baselineMs, 100);
    assert.equal(round(100), 40); // at the new baseline, slow start again: doubles
    assert.equal(round(100), 80);
  });

  test('the baseline forgets: after baselineWindowMs of higher latency it rises and the limit can grow', () => {
    const { round, limit } = driver({ initialLimit: 4, minLimit: 4, baselineWindowMs: 1000 });
    round(10, 1); // not used: stays 4, baseline 10
    round(100);
    assert.equal(limit.limit, 4);
    assert.equal(limit.baselineMs, 10);
    // Pinned at minLimit, the peak in flight cannot fall: no early rebase, the window ages.
    let rounds = 0;
    while (limit.baselineMs < 100 && rounds++ < 20) round(100);
    assert.equal(limit.baselineMs, 100);
    assert.ok(rounds >= 2, `baseline kept for ${rounds} rounds of 300 ms`);
    assert.ok(round(100) > 4, `limit ${limit.limit}`);
  });

  test('an idle gap keeps the baseline: traffic resuming into a queue shrinks the limit', () => {
    const { round, elapse, limit } = driver({ initialLimit: 10, baselineWindowMs: 1000 });
    assert.equal(round(10), 20);
    assert.equal(round(10), 40);
    elapse(60_000);
    // Back at full rate, 40 in flight where 10 were served without a queue: 40 ms rounds.
    assert.equal(round(40), 20);
    assert.equal(limit.baselineMs, 10);
  });

  test('a steady queue does not become the baseline when the window forgets (no creeping up)', () => {
    const { round, limit } = driver({ initialLimit: 10, baselineWindowMs: 1000 });
    assert.equal(round(10), 20); // baseline 10 ms with 10 in flight
    // Twice as many in flight, 40% slower: a queue the hold band tolerates, for 3 windows.
    for (let i = 0; i < 80; i++) assert.equal(round(14), 20);
    assert.equal(limit.baselineMs, 10);
  });

  test('a dropped call multiplies the limit by backoffRatio', () => {
    const { round } = driver({ initialLimit: 20, backoffRatio: 0.75 });
    assert.equal(round(10, 'limit', true), 15);
    assert.equal(round(10, 'limit', true), 11);
  });

  test('calls that started before the last change are not judged against the new limit', () => {
    const limit = new GradientLimit({ initialLimit: 20 });
    let now = 0;
    for (let i = 0; i < 8; i++)
      limit.update({ nowMs: (now += 5), rttMs: 10, inFlight: 20, didDrop: false });
    assert.equal(limit.limit, 40);
    // Completions of calls admitted under the old limit, however slow, change nothing.
    for (let i = 0; i < 100; i++) {
      limit.update({ nowMs: now + i * 0.01, rttMs: 500, inFlight: 40, didDrop: false });
    }
    assert.equal(limit.limit, 40);
  });

  test('bad options throw HP_ERR_INVALID_OPTION naming the option', () => {
    for (const [options, name] of [
      [{ minLimit: 0 }, 'minLimit'],
      [{ minLimit: 10, maxLimit: 5 }, 'maxLimit'],
      [{ initialLimit: 2000 }, 'initialLimit'],
      [{ tolerance: 0.9 }, 'tolerance'],
      [{ baselineWindowMs: 0 }, 'baselineWindowMs'],
      [{ roundSamples: 1.5 }, 'roundSamples'],
      [{ backoffRatio: 2 }, 'backoffRatio'],
    ] as const) {
      assert.throws(
        () => new GradientLimit(options),
        (e: unknown) =>
          (e as { code: string }).code === 'HP_ERR_INVALID_OPTION' &&
          (e as Error).message.includes(name),
      );
    }
  });
});
