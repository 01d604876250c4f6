import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  LoopDelaySampler,
  type ActivityWatch,
  type LoopDelaySamplerOptions,
  type SamplerTimers,
} from './loop-delay-sampler.js';

/** Timers driven by hand: `advance(ms)` fires what is due and counts every callback. */
class ManualTimers implements SamplerTimers {
  now = 0;
  callbacks = 0;
  #next = 1;
  readonly #intervals = new Map<number, { callback: () => void; ms: number; due: number }>();

  setInterval(callback: () => void, ms: number): unknown {
    const id = this.#next++;
    this.#intervals.set(id, { callback, ms, due: this.now + ms });
    return id;
  }

  clearInterval(handle: unknown): void {
    this.#intervals.delete(handle as number);
  }

  get active(): number {
    return this.#intervals.size;
  }

  /** Moves time by `ms`, firing each interval when due (late by `lateMs` when given). */
  advance(ms: number, lateMs = 0): void {
    const end = this.now + ms;
    for (;;) {
      let first: [number, { callback: () => void; ms: number; due: number }] | undefined;
      for (const entry of this.#intervals) if (!first || entry[1].due < first[1].due) first = entry;
      if (first === undefined || first[1].due + lateMs > end) break;
      this.now = first[1].due + lateMs;
      first[1].due = this.now + first[1].ms;
      this.callbacks++;
      first[1].callback();
    }
    this.now = end;
  }
}

/** An activity watch the test triggers: `activate()` is the loop running some callback. */
class ManualActivity implements ActivityWatch {
  #onActive: (() => void) | undefined;

  get isArmed(): boolean {
    return this.#onActive !== undefined;
  }

  arm(onActive: () => void): void {
    this.#onActive = onActive;
  }

  disarm(): void {
    this.#onActive = undefined;
  }

  activate(): void {
    const callback = this.#onActive;
    this.#onActive = undefined;
    callback?.();
  }
}

function setup(overrides: Partial<LoopDelaySamplerOptions> = {}) {
  const timers = new ManualTimers();
  const activity = new ManualActivity();
  const samples: number[] = [];
  let busy = 0;
  const sampler = new LoopDelaySampler({
    resolutionMs: 10,
    idleAfterMs: 10,
    clock: { now: () => timers.now },
    timers,
    activity,
    busyMs: () => busy,
    onSample: (micros) => samples.push(micros),
    ...overrides,
  });
  return {
    timers,
    activity,
    samples,
    sampler,
    work: (ms: number) => (busy += ms),
  };
}

describe('LoopDelaySampler', () => {
  test('an idle loop parks the timer and is not woken by it again while idle', () => {
    const { timers, activity, sampler } = setup();
    assert.equal(timers.active, 1);
    timers.advance(10);
    assert.equal(sampler.isParked, true);
    assert.equal(timers.active, 0);
    assert.equal(activity.isArmed, true);
    const before = timers.callbacks;
    timers.advance(60_000);
    assert.equal(timers.callbacks - before, 0, 'no timer callback in a minute of idleness');
    sampler.close();
  });

  test('the next callback of the loop starts the timer again, and it parks again when idle', () => {
    const { timers, activity, sampler, samples } = setup();
    timers.advance(10);
    timers.advance(5000);
    activity.activate();
    assert.equal(sampler.isParked, false);
    assert.equal(timers.active, 1);
    const before = samples.length;
    timers.advance(10);
    assert.equal(samples.length - before, 1);
    assert.equal(sampler.isParked, true);
    sampler.close();
  });

  test('a busy loop keeps the timer running', () => {
    const { timers, sampler, work } = setup();
    for (let i = 0; i < 100; i++) {
      work(3);
      timers.advance(10);
      assert.equal(sampler.isParked, false, `tick ${i}`);
    }
    assert.equal(timers.callbacks, 100);
    sampler.close();
  });

  test('a 200 ms stall in the first callback after a park shows as about 200 ms', () => {
    const { timers, activity, samples, work } = setup();
    timers.advance(10);
    timers.advance(1000);
    // A request arrives: the watch resumes the timer, then its handler blocks for 200 ms.
    activity.activate();
    work(200);
    timers.advance(200, 190);
    assert.equal(samples.length, 2);
    assert.equal(samples.at(-1), 190_000);
  });

  test('it parks only after idleAfterMs of idle ticks', () => {
    const { timers, sampler } = setup({ idleAfterMs: 50 });
    timers.advance(40);
    assert.equal(sampler.isParked, false);
    timers.advance(10);
    assert.equal(sampler.isParked, true);
    sampler.close();
  });

  test('idleAfterMs 0 never parks', () => {
    const { timers, sampler } = setup({ idleAfterMs: 0 });
    timers.advance(10_000);
    assert.equal(sampler.isParked, false);
    assert.equal(timers.callbacks, 1000);
    sampler.close();
  });

  test('close stops the timer and the watch, parked or not', () => {
    const running = setup();
    running.sampler.close();
    assert.equal(running.timers.active, 0);
    const parked = setup();
    parked.timers.advance(10);
    parked.sampler.close();
    assert.equal(parked.activity.isArmed, false);
    parked.activity.activate();
    assert.equal(parked.timers.active, 0);
  });
});

test('a loop woken every period by something else keeps the timer on instead of parking each time', () => {
  const { timers, activity, sampler } = setup();
  let parksBefore = 0;
  // Another 10 ms timer wakes the loop: each of its callbacks runs the activity watch.
  for (let i = 0; i < 300; i++) {
    timers.advance(10);
    if (i === 99) parksBefore = sampler.parks;
    activity.activate();
  }
  // Two seconds of it, 200 wake-ups: three brief parks, then the timer stays on for 100
  // periods, twice.
  assert.ok(sampler.parks - parksBefore <= 8, `${sampler.parks - parksBefore} parks in 2 s`);
  sampler.close();
});

test('two wake-ups close together once a second still park between seconds', () => {
  const { timers, activity, sampler } = setup();
  timers.advance(10);
  const callbacksBefore = timers.callbacks;
  for (let second = 0; second < 10; second++) {
    // Two timers of another part, 15 ms apart, then nothing for the rest of the second.
    activity.activate();
    timers.advance(15);
    activity.activate();
    timers.advance(985);
  }
  assert.ok(sampler.isParked);
  // A few ticks after each wake-up, not 100 a second.
  assert.ok(
    timers.callbacks - callbacksBefore <= 40,
    `${timers.callbacks - callbacksBefore} ticks`,
  );
  sampler.close();
});
