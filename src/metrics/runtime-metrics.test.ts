import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { RuntimeMetrics } from './index.js';

function busy(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end);
}

test('a blocked event loop shows in the windowed delay and utilization', async () => {
  const runtime = new RuntimeMetrics({ resolutionMs: 5 });
  await sleep(20);
  busy(60);
  await sleep(20);
  const snap = runtime.snapshot();
  // The sampler timer fired at least 60 ms late once: a lower bound, not a timing guess.
  assert.ok(snap.eventLoopDelay.max >= 50, `max ${snap.eventLoopDelay.max} ms`);
  assert.ok(snap.eventLoopDelay.p50 <= snap.eventLoopDelay.p99);
  assert.ok(snap.eventLoopUtilization > 0 && snap.eventLoopUtilization <= 1);
  assert.ok(snap.heapUsed > 0 && snap.heapTotal >= snap.heapUsed);
  assert.ok(snap.rss > 0);
  assert.ok(snap.activeResources >= 0);
  await runtime.close();
});

test('the delay window forgets old samples after it slides past them', async () => {
  const runtime = new RuntimeMetrics({ windowMs: 2000, slotMs: 1000 });
  runtime.recordDelay(500_000);
  assert.ok(runtime.snapshot().eventLoopDelay.max >= 500);
  runtime.rotate();
  runtime.rotate();
  assert.ok(runtime.snapshot().eventLoopDelay.max < 500);
  await runtime.close();
});

test('an idle loop parks the delay sampler, and the idle time reads as no delay', async () => {
  const runtime = new RuntimeMetrics();
  // One timer, no other work: the sampler parks within a few ticks and waits for it.
  await sleep(300);
  assert.ok(runtime.delaySamplerParks >= 1);
  const snap = runtime.snapshot();
  assert.ok(snap.eventLoopDelay.p50 < 0.01, `p50 ${snap.eventLoopDelay.p50} ms`);
  await runtime.close();
});

test('a 200 ms stall right after the sampler parked shows as about 200 ms', async () => {
  const runtime = new RuntimeMetrics();
  // A timer callback that blocks, due when the sampler has parked: the loop's first callback
  // after the park resumes the sampler before its own code runs.
  let parksBefore = 0;
  await new Promise<void>((resolve) =>
    setTimeout(() => {
      parksBefore = runtime.delaySamplerParks;
      busy(200);
      resolve();
    }, 100),
  );
  assert.ok(parksBefore >= 1, 'the sampler was parked before the stall');
  await sleep(30);
  const max = runtime.snapshot().eventLoopDelay.max;
  // 200 ms less at most one 10 ms period (and histogram precision): a lower bound.
  assert.ok(max >= 185, `max ${max} ms`);
  await runtime.close();
});

test('the window slides with the clock, without a rotation timer', async () => {
  let now = 0;
  const runtime = new RuntimeMetrics({ windowMs: 2000, slotMs: 1000, clock: { now: () => now } });
  runtime.recordDelay(500_000);
  now = 1500;
  assert.ok(runtime.snapshot().eventLoopDelay.max >= 500);
  now = 2500;
  assert.ok(runtime.snapshot().eventLoopDelay.max < 500);
  now = 3_600_000;
  const utilization = runtime.snapshot().eventLoopUtilization;
  assert.ok(utilization >= 0 && utilization <= 1, `utilization ${utilization}`);
  await runtime.close();
});

test('garbage collections are counted by kind and exposed with the memory gauges', async () => {
  const runtime = new RuntimeMetrics();
  let keep: unknown[] = [];
  for (let round = 0; round < 50; round++) {
    keep = [];
    for (let i = 0; i < 20_000; i++) keep.push({ i, s: `x${i}` });
  }
  assert.ok(keep.length > 0);
  // GC entries reach observers asynchronously.
  await sleep(50);
  const text = await runtime.registry.metrics();
  const minor = /^nodejs_gc_runs_total\{kind="minor"\} (\d+)$/m.exec(text);
  assert.ok(minor && Number(minor[1]) > 0, 'scavenges were observed');
  assert.match(text, /^nodejs_gc_pause_seconds_count\{kind="minor"\} [1-9]\d*$/m);
  for (const name of [
    'eventloop_delay_p50_seconds',
    'eventloop_delay_p99_seconds',
    'eventloop_delay_max_seconds',
    'eventloop_utilization_ratio',
    'heap_used_bytes',
    'heap_total_bytes',
    'resident_memory_bytes',
    'external_memory_bytes',
    'active_resources',
  ]) {
    assert.match(text, new RegExp(`^nodejs_${name} [0-9.e+-]+$`, 'm'), name);
  }
  assert.ok(runtime.snapshot().gcPauseMs.minor > 0);
  await runtime.close();
});

test('options are checked', () => {
  assert.throws(() => new RuntimeMetrics({ resolutionMs: 0 }), { option: 'resolutionMs' });
  assert.throws(() => new RuntimeMetrics({ windowMs: 1000, slotMs: 5000 }), { option: 'slotMs' });
  assert.throws(() => new RuntimeMetrics({ idleAfterMs: -1 }), { option: 'idleAfterMs' });
});
