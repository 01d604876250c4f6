import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { describe, test } from 'node:test';
import { LoadShedder, type LoopSample, type LoopSampler, type ShedStateChange } from './index.js';

/** A sampler the test sets by hand. */
class FakeSampler implements LoopSampler {
  next: LoopSample = { delayMs: 0, utilization: 0.2 };
  closed = false;
  sample(): LoopSample {
    return this.next;
  }
  close(): void {
    this.closed = true;
  }
}

/** A shedder on a hand-driven sampler and clock; `step()` advances 100 ms and updates. */
function setup(options: { random?: () => number; gain?: number } = {}) {
  const sampler = new FakeSampler();
  let now = 0;
  const shedder = new LoadShedder({
    delayThresholdMs: 50,
    utilizationThreshold: 0.9,
    sampler,
    clock: { now: () => now },
    random: options.random ?? (() => 0.5),
    ...(options.gain === undefined ? {} : { gain: options.gain }),
  });
  const step = (sample: LoopSample, times = 1) => {
    sampler.next = sample;
    for (let i = 0; i < times; i++) {
      now += 100;
      shedder.update();
    }
  };
  return { shedder, sampler, step };
}

/** Share of `n` decisions of a priority that were shed, with a deterministic random sequence. */
function shedShare(
  shedder: LoadShedder,
  priority: 'low' | 'normal' | 'high' | 'critical',
  n = 1000,
) {
  let shed = 0;
  for (let i = 0; i < n; i++) if (shedder.shouldShed(priority)) shed++;
  return shed / n;
}

describe('LoadShedder', () => {
  test('sheds nothing while delay and utilization stay under their thresholds', async () => {
    const { shedder, step } = setup();
    step({ delayMs: 40, utilization: 0.85 }, 50);
    assert.equal(shedder.isShedding, false);
    assert.equal(shedder.level, 0);
    for (const p of ['low', 'normal', 'high', 'critical'] as const) {
      assert.equal(shedder.shouldShed(p), false);
    }
    assert.deepEqual(shedder.stats().shed, { critical: 0, high: 0, normal: 0, low: 0 });
    await shedder.close();
  });

  test('a stall of twice the delay threshold sheds every priority at once', async () => {
    const { shedder, step } = setup();
    step({ delayMs: 100, utilization: 1 });
    assert.equal(shedder.isShedding, true);
    assert.equal(shedder.level, 1);
    for (const p of ['low', 'normal', 'high', 'critical'] as const) {
      assert.equal(shedder.shouldShed(p), true);
    }
    const stats = shedder.stats();
    assert.deepEqual(stats.probability, { critical: 1, high: 1, normal: 1, low: 1 });
    assert.deepEqual(stats.shed, { critical: 1, high: 1, normal: 1, low: 1 });
    assert.equal(stats.delayMs, 100);
    await shedder.close();
  });

  test('the shed level is linear in the stall between the threshold and twice it', async () => {
    const { shedder, step } = setup();
    step({ delayMs: 65, utilization: 0.5 });
    // floor (65 / 50 - 1) = 0.3; the integral adds 2 * 0.3 * 0.1 = 0.06 on top of 0 first.
    assert.ok(Math.abs(shedder.level - 0.3) < 1e-9, `level ${shedder.level}`);
    await shedder.close();
  });

  test('at moderate overload low priority is shed first, then normal; high and critical pass', async () => {
    let i = 0;
    const { shedder, step } = setup({ random: () => (i++ % 100) / 100 });
    step({ delayMs: 65, utilization: 0.5 });
    // Level 0.3 over four equally common priorities: all low (0.25), a fifth of normal.
    const stats = shedder.stats();
    assert.equal(stats.probability.low, 1);
    assert.ok(Math.abs(stats.probability.normal - 0.2) < 1e-9);
    assert.equal(stats.probability.high, 0);
    assert.equal(stats.probability.critical, 0);
    assert.equal(shedShare(shedder, 'low'), 1);
    assert.ok(Math.abs(shedShare(shedder, 'normal') - 0.2) < 0.011);
    assert.equal(shedShare(shedder, 'high'), 0);
    assert.equal(shedShare(shedder, 'critical'), 0);
    await shedder.close();
  });

  test('the level is spread by the traffic mix: with only normal requests it is their shed share', async () => {
    let i = 0;
    // A negligible gain leaves the proportional floor alone in charge: level 0.5.
    const { shedder, step } = setup({ random: () => (i++ % 100) / 100, gain: 1e-9 });
    for (let s = 0; s < 30; s++) {
      step({ delayMs: 75, utilization: 0.5 }); // floor 0.5
      for (let r = 0; r < 100; r++) shedder.shouldShed('normal');
    }
    // The shares learned that every request is normal: level 0.5 sheds half of them.
    assert.ok(Math.abs(shedder.level - 0.5) < 1e-6, `level ${shedder.level}`);
    const p = shedder.stats().probability.normal;
    assert.ok(Math.abs(p - shedder.level) < 0.01, `normal ${p} vs level ${shedder.level}`);
    assert.equal(shedder.stats().probability.low, 1);
    await shedder.close();
  });

  test('utilization held above its threshold raises the level step by step, and it decays after', async () => {
    const { shedder, step } = setup({ gain: 2 });
    step({ delayMs: 5, utilization: 0.99 }, 10);
    // Each 100 ms step adds 2 * (0.99 / 0.9 - 1) * 0.1 = 0.02: ten make 0.2.
    assert.ok(Math.abs(shedder.level - 0.2) < 1e-9, `level ${shedder.level}`);
    assert.equal(shedder.isShedding, true);
    step({ delayMs: 5, utilization: 0.45 }, 1);
    // Pressure 0.5: the level falls by 2 * 0.5 * 0.1 = 0.1 per step.
    assert.ok(Math.abs(shedder.level - 0.1) < 1e-9, `level ${shedder.level}`);
    step({ delayMs: 5, utilization: 0.45 }, 1);
    assert.equal(shedder.level, 0);
    assert.equal(shedder.isShedding, false);
    assert.equal(shedder.shouldShed('low'), false);
    await shedder.close();
  });

  test('a lone stall sheds everything for one interval, then only what the integral kept', async () => {
    const { shedder, step } = setup({ gain: 2 });
    step({ delayMs: 300, utilization: 1 });
    assert.equal(shedder.level, 1);
    assert.equal(shedder.shouldShed('critical'), true);
    // The stall added 2 * 1 * 0.1 = 0.2 to the integral; an idle interval takes it back.
    step({ delayMs: 0, utilization: 0.5 });
    assert.ok(Math.abs(shedder.level - 0.1111111) < 1e-6, `level ${shedder.level}`);
    assert.equal(shedder.shouldShed('critical'), false);
    step({ delayMs: 0, utilization: 0.5 }, 2);
    assert.equal(shedder.isShedding, false);
    await shedder.close();
  });

  test('publishes on hotpath:resilience:shed when shedding starts and stops', async () => {
    const changes: ShedStateChange[] = [];
    const listener = (m: unknown) => changes.push(m as ShedStateChange);
    subscribe('hotpath:resilience:shed', listener);
    try {
      const { shedder, step } = setup();
      step({ delayMs: 100, utilization: 1 });
      step({ delayMs: 100, utilization: 1 });
      step({ delayMs: 0, utilization: 0 }, 10);
      assert.deepEqual(
        changes.map((c) => [c.isShedding, c.name]),
        [
          [true, 'shedder'],
          [false, 'shedder'],
        ],
      );
      await shedder.close();
    } finally {
      unsubscribe('hotpath:resilience:shed', listener);
    }
  });

  test('stats report the recent window: the longest stall and the mean utilization', async () => {
    const { shedder, step } = setup();
    step({ delayMs: 20, utilization: 0.5 }, 5);
    step({ delayMs: 30, utilization: 0.7 }, 5);
    let stats = shedder.stats();
    assert.equal(stats.delayMs, 30);
    assert.ok(Math.abs(stats.utilization - 0.6) < 1e-9);
    assert.equal(stats.windowMs, 1000);
    step({ delayMs: 10, utilization: 0.1 }, 10);
    stats = shedder.stats();
    assert.equal(stats.delayMs, 10, 'older samples left the 1 s window');
    await shedder.close();
  });

  test('close stops shedding and leaves an injected sampler open', async () => {
    const { shedder, sampler, step } = setup();
    step({ delayMs: 100, utilization: 1 });
    await shedder.close();
    assert.equal(shedder.shouldShed('low'), false);
    shedder.update();
    assert.equal(shedder.isShedding, false);
    assert.equal(sampler.closed, false);
  });

  test('bad options throw HP_ERR_INVALID_OPTION naming the option', () => {
    for (const [options, name] of [
      [{ delayThresholdMs: 0 }, 'delayThresholdMs'],
      [{ utilizationThreshold: 1.5 }, 'utilizationThreshold'],
      [{ sampleIntervalMs: 0 }, 'sampleIntervalMs'],
      [{ windowMs: 10 }, 'windowMs'],
      [{ gain: -1 }, 'gain'],
      [{ sampler: {} }, 'sampler'],
    ] as const) {
      assert.throws(
        () => new LoadShedder(options as never),
        (e: unknown) =>
          (e as { code: string }).code === 'HP_ERR_INVALID_OPTION' &&
          (e as Error).message.includes(name),
      );
    }
  });
});
