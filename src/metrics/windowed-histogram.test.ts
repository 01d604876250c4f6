import assert from 'node:assert/strict';
import { mock, test } from 'node:test';
import { WindowedHistogram } from './index.js';

test('the window forgets values older than windowMs, one slot at a time', async () => {
  const w = new WindowedHistogram({ windowMs: 10_000, slots: 10, autoRotate: false });
  w.record(100);
  for (let i = 0; i < 9; i++) w.rotate();
  w.record(200);
  assert.equal(w.window().count, 2);
  assert.equal(w.window().max, 200);
  w.rotate();
  assert.equal(w.window().count, 1);
  assert.equal(w.window().min, 200);
  await w.close();
});

test('rotates on its own timer', async () => {
  mock.timers.enable({ apis: ['setInterval'] });
  try {
    const w = new WindowedHistogram({ windowMs: 3000, slots: 3 });
    w.recordMany(50, 5);
    mock.timers.tick(2000);
    assert.equal(w.window().count, 5);
    mock.timers.tick(1000);
    assert.equal(w.window().count, 0);
    await w.close();
  } finally {
    mock.timers.reset();
  }
});

test('options are checked', () => {
  assert.throws(() => new WindowedHistogram({ slots: 0 }), { option: 'slots' });
  assert.throws(() => new WindowedHistogram({ windowMs: -1 }), { option: 'windowMs' });
});

test('a shorter window merges only the newest slots and reports the time it covers', async () => {
  let now = 0;
  const w = new WindowedHistogram({
    windowMs: 10_000,
    slots: 10,
    autoRotate: false,
    clock: { now: () => now },
  });
  for (let s = 0; s < 10; s++) {
    w.recordMany(10 * (s + 1), s + 1);
    now += 1000;
    if (s < 9) w.rotate();
  }
  // Slots hold 1..10 values; the current (last) slot has run a full second.
  assert.equal(w.window(3000).count, 10 + 9 + 8);
  assert.equal(w.window(1000).count, 10);
  assert.equal(w.window().count, 55);
  assert.equal(w.coveredMs(3000), 3000);
  w.rotate();
  now += 250;
  assert.equal(w.coveredMs(3000), 2250);
  assert.equal(w.window(3000).count, 10 + 9);
  await w.close();
});
