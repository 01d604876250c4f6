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
function setup(
  options: { random?: () => number; gain?: number; queueDelayTargetMs?: number } = {},
) {
  const sampler = new FakeSampler();
  let now = 0;
  const shedder = new LoadShedder({
    delayThresholdMs: 50,
    utilizationThreshold: 0.9,
    sampler,
    clock: { now: () => now },
    random: options.random ?? (() => 0.5),
    ...(options.gain === undefined ? {} : { gain: options.gain }),
    ...(options.queueDelayTargetMs === undefined
      ? {}
      : { queueDelayTargetMs: options.queueDelayTargetMs }),
  });
  const step = (sample: LoopSample, times = 1) => {
    sampler.next = sample;
    for (let i = 0; i < times; i++) {
      now += 100;
      shedder.update();
    }
  };
  /** Moves the clock within one loop turn, as the requests of a turn take their time. */
  const advance = (ms: number) => {
    now += ms;
  };
  return { shedder, sampler, step, advance };
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
    // The loop is busy enough for the queue rule to watch each request, which finds no queue.
    assert.equal(shedder.stats().isShedding, false);
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
    step({ delayMs: 5, utilization: 0.92 }, 5);
    // Error (0.92 - 0.9) / (1 - 0.9) = 0.2: each 100 ms step adds 2 * 0.2 * 0.1 = 0.04.
    assert.ok(Math.abs(shedder.level - 0.2) < 1e-9, `level ${shedder.level}`);
    assert.equal(shedder.isShedding, true);
    step({ delayMs: 5, utilization: 0.45 }, 1);
    // Error 0.45 / 0.9 - 1 = -0.5: the level falls by 2 * 0.5 * 0.1 = 0.1 per step.
    assert.ok(Math.abs(shedder.level - 0.1) < 1e-9, `level ${shedder.level}`);
    step({ delayMs: 5, utilization: 0.45 }, 1);
    assert.equal(shedder.level, 0);
    assert.equal(shedder.isShedding, false);
    assert.equal(shedder.shouldShed('low'), false);
    await shedder.close();
  });

  test('a saturated loop raises the level at the full gain, however small the headroom', async () => {
    const { shedder, step } = setup({ gain: 2 });
    step({ delayMs: 5, utilization: 1 }, 3);
    // Error 1: 2 * 1 * 0.1 per step.
    assert.ok(Math.abs(shedder.level - 0.6) < 1e-9, `level ${shedder.level}`);
    await shedder.close();
  });

  test('a loop slowed by other processes holding the CPU is not shed for', async () => {
    const { shedder, step } = setup();
    // Busy and stalling in wall time, but the process ran 30% of the time: starved.
    step({ delayMs: 80, utilization: 1, cpuUtilization: 0.3 }, 30);
    assert.equal(shedder.level, 0);
    assert.equal(shedder.shouldShed('low'), false);
    const stats = shedder.stats();
    assert.equal(stats.utilization, 1);
    assert.ok(Math.abs(stats.ownUtilization - 0.3) < 1e-9, `own ${stats.ownUtilization}`);
    await shedder.close();
  });

  test('the same loop read in wall time alone is shed for', async () => {
    const sampler = new FakeSampler();
    let now = 0;
    const shedder = new LoadShedder({
      delayThresholdMs: 50,
      utilizationThreshold: 0.9,
      shouldDiscountStarvation: false,
      sampler,
      clock: { now: () => now },
    });
    sampler.next = { delayMs: 80, utilization: 1, cpuUtilization: 0.3 };
    now += 100;
    shedder.update();
    assert.equal(shedder.isShedding, true);
    assert.ok(shedder.level >= 0.6, `level ${shedder.level}`);
    await shedder.close();
  });

  test('a loop busy and stalling on its own CPU time is shed for', async () => {
    const { shedder, step } = setup();
    step({ delayMs: 80, utilization: 1, cpuUtilization: 1 });
    // Floor (80 / 50 - 1) = 0.6, the integral 0.2 under it.
    assert.ok(Math.abs(shedder.level - 0.6) < 1e-9, `level ${shedder.level}`);
    step({ delayMs: 10, utilization: 1, cpuUtilization: 1.2 }, 2);
    // Worker threads' CPU on top of the loop's: the utilization counted is still the loop's.
    assert.ok(Math.abs(shedder.level - 0.6) < 1e-9, `level ${shedder.level}`);
    await shedder.close();
  });

  test('a stall longer than the CPU time the process used is not of its own making', async () => {
    const { shedder, step } = setup();
    // A 300 ms stall in an interval the process used 5 ms of CPU in: woken late, not busy.
    step({ delayMs: 300, utilization: 0.1, cpuUtilization: 0.05 }, 10);
    assert.equal(shedder.level, 0);
    await shedder.close();
  });

  test('a starved process that is also overloaded sheds down to the CPU it gets', async () => {
    const { shedder, step } = setup();
    // It ran 95% of the time and its loop was never idle: its own work, whoever else runs.
    step({ delayMs: 20, utilization: 1, cpuUtilization: 0.95 }, 5);
    assert.ok(shedder.level > 0.4, `level ${shedder.level}`);
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
    assert.equal(shedder.stats().isShedding, false);
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
      [{ shouldDiscountStarvation: 'yes' }, 'shouldDiscountStarvation'],
      [{ queueDelayTargetMs: -1 }, 'queueDelayTargetMs'],
    ] as const) {
      assert.throws(
        () => new LoadShedder(options as never),
        (e: unknown) =>
          (e as { code: string }).code === 'HP_ERR_INVALID_OPTION' &&
          (e as Error).message.includes(name),
      );
    }
  });

  test('by default a normal request is shed once it has waited 20 ms for a half-busy loop', async () => {
    const { shedder, step, advance } = setup();
    step({ delayMs: 5, utilization: 0.7 });
    shedder.shouldShed('normal');
    advance(19);
    assert.equal(shedder.shouldShed('normal'), false, '19 ms');
    advance(2);
    assert.equal(shedder.shouldShed('normal'), true, '21 ms');
    await shedder.close();
  });

  test('while the loop is half busy, a request that waited past the target of its priority is shed at once', async () => {
    const { shedder, step, advance } = setup({ queueDelayTargetMs: 5 });
    step({ delayMs: 5, utilization: 0.7 });
    assert.equal(shedder.level, 0);
    assert.equal(shedder.isShedding, true, 'the queue rule watches each request');
    // The turn's first request waited nothing.
    assert.equal(shedder.shouldShed('low'), false);
    advance(3); // 3 ms into the turn: over low's 2.5 ms, under normal's 5 ms
    assert.deepEqual([shedder.shouldShed('low'), shedder.shouldShed('normal')], [true, false]);
    advance(4); // 7 ms: over normal's 5 ms, under high's 10 ms
    assert.deepEqual([shedder.shouldShed('normal'), shedder.shouldShed('high')], [true, false]);
    advance(100); // critical is never shed for its wait
    assert.deepEqual([shedder.shouldShed('high'), shedder.shouldShed('critical')], [true, false]);
    step({ delayMs: 5, utilization: 0.7 });
    assert.equal(shedder.stats().isShedding, true, 'the interval shed by the queue rule');
    await shedder.close();
  });

  test('a loop under half busy is not watched, and a target of 0 turns the queue rule off', async () => {
    const idle = setup();
    idle.step({ delayMs: 5, utilization: 0.3 });
    assert.equal(idle.shedder.isShedding, false);
    idle.advance(50);
    assert.equal(idle.shedder.shouldShed('low'), false);
    await idle.shedder.close();
    const off = setup({ queueDelayTargetMs: 0 });
    off.step({ delayMs: 5, utilization: 0.8 });
    assert.equal(off.shedder.isShedding, false);
    await off.shedder.close();
  });

  test('the waits of a starved loop count for the share of its busy time the process ran', async () => {
    const { shedder, step, advance } = setup({ queueDelayTargetMs: 5 });
    step({ delayMs: 5, utilization: 1, cpuUtilization: 0.4 });
    assert.equal(shedder.level, 0);
    shedder.shouldShed('normal');
    advance(10); // 10 ms of wall time, 4 of them running
    assert.equal(shedder.shouldShed('normal'), false);
    advance(5); // 15 ms, 6 running: a queue of its own
    assert.equal(shedder.shouldShed('normal'), true);
    await shedder.close();
  });
});
