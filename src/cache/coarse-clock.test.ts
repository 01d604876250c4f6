import assert from 'node:assert/strict';
import { test } from 'node:test';
import { coarseWallClock } from './coarse-clock.js';

test('reads a millisecond or more apart each read the wall clock, with no cached value', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1000 });
  const clock = coarseWallClock();
  assert.equal(clock.now(), 1000);
  t.mock.timers.setTime(1003);
  assert.equal(clock.now(), 1003);
  // No timer ran since, and none had to: nothing was cached.
  t.mock.timers.setTime(1004);
  assert.equal(clock.now(), 1004);
});

test('a second read in the same millisecond caches the value until a timer clears it a millisecond later', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1000 });
  const clock = coarseWallClock();
  assert.equal(clock.now(), 1000);
  assert.equal(clock.now(), 1000);
  // The wall clock moves on but the timer has not fired yet: the cached value is served.
  t.mock.timers.setTime(1001);
  assert.equal(clock.now(), 1000);
  t.mock.timers.tick(1);
  assert.equal(clock.now(), Date.now());
  assert.equal(clock.now(), 1002);
});
