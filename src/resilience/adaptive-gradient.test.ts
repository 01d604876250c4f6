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
  const round = (rttMs: number, inFlight: number | 'limit' = 'limit', didDrop = false) => {
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

  test('latency within the tolerance neither shrinks the limit nor stops it growing', () => {
    const { round } = driver({ initialLimit: 20, tolerance: 1.5 });
    assert.equal(round(10), 40);
    assert.equal(round(15), 80);
    assert.equal(round(16), 50); // 80 in flight x 10/16
    assert.equal(round(100), 25); // 50 x 10/100, but at most halved per round
  });

  test('never goes below minLimit however slow the calls get', () => {
    const { round } = driver({ initialLimit: 40, minLimit: 4, baselineWindowMs: 1e6 });
    round(10);
    for (let i = 0; i < 20; i++) round(1000);
    assert.equal(round(1000), 4);
  });

  test('the baseline forgets: latency that stays high becomes the new baseline and the limit grows again', () => {
    const { round, limit } = driver({ initialLimit: 20, minLimit: 2, baselineWindowMs: 2000 });
    round(10);
    for (let i = 0; i < 4; i++) round(100);
    assert.equal(limit.limit, 2);
    assert.equal(limit.baselineMs, 10);
    let rounds = 0;
    while (limit.baselineMs < 100 && rounds++ < 20) round(100);
    assert.equal(limit.baselineMs, 100);
    const before = limit.limit;
    assert.ok(round(100) > before && round(100) > before + 1, `limit ${limit.limit}`);
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
