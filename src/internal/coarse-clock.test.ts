import assert from 'node:assert/strict';
import { test } from 'node:test';
import { coarseClock, coarseWallClock } from './coarse-clock.js';

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

test('a monotonic clock read twice within the resolution is cached until the timer clears it', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  let time = 10.25;
  let reads = 0;
  const clock = coarseClock(() => {
    reads++;
    return time;
  }, 2);
  assert.equal(clock.now(), 10.25);
  time = 13;
  // 2.75 ms apart: no cache, no timer.
  assert.equal(clock.now(), 13);
  time = 14.5;
  // 1.5 ms after the last read: cached from here on.
  assert.equal(clock.now(), 14.5);
  time = 15;
  assert.equal(clock.now(), 14.5);
  assert.equal(reads, 3);
  t.mock.timers.tick(2);
  time = 16.75;
  assert.equal(clock.now(), 16.75, 'read again once the timer cleared the cache');
  assert.equal(reads, 4);
});
