import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { LoopWait } from './shed-queue.js';

/** A LoopWait on a hand-set clock, idle counter and CPU counter. */
function setup() {
  const state = { now: 1000, idle: 0, cpu: 0 };
  const wait = new LoopWait({
    clock: { now: () => state.now },
    idleMs: () => state.idle,
    cpuMs: () => state.cpu,
  });
  return { state, wait };
}

describe('LoopWait', () => {
  test('the first request of a turn after the loop idled has waited nothing', () => {
    const { wait } = setup();
    assert.equal(wait.waitMs(), 0);
  });

  test('requests later in a turn have waited for the ones before them', () => {
    const { state, wait } = setup();
    wait.waitMs();
    state.now += 3;
    assert.equal(wait.waitMs(), 3);
    state.now += 4;
    assert.equal(wait.waitMs(), 7);
  });

  test('a turn that follows a busy turn without idling counts from the busy turn', async () => {
    const { state, wait } = setup();
    wait.waitMs(); // turn 1 starts at 1000
    state.now += 20; // turn 1 runs 20 ms
    await nextTurn();
    state.now += 1; // no idle time: the loop went straight on
    assert.equal(wait.waitMs(), 21, 'counted from the start of turn 1');
  });

  test('a turn after the loop idled counts from its own start', async () => {
    const { state, wait } = setup();
    wait.waitMs();
    state.now += 20;
    await nextTurn();
    state.now += 30;
    state.idle += 30; // the loop waited for I/O: the request arrived after
    assert.equal(wait.waitMs(), 0);
    state.now += 2;
    assert.equal(wait.waitMs(), 2);
  });

  test('in own time, the previous turn counts for the CPU time the process used in it', async () => {
    const { state, wait } = setup();
    wait.ownWaitMs(1); // turn 1 starts at 1000
    state.now += 20;
    state.cpu += 5; // 20 ms of wall time, 5 of them running: other processes held the CPU
    await nextTurn();
    assert.equal(wait.waitMs(), 20);
    assert.equal(wait.ownWaitMs(0.25), 5);
    state.now += 4; // 4 ms into this turn, a quarter of it running
    assert.equal(wait.ownWaitMs(0.25), 6);
    assert.equal(wait.waitMs(), 24);
  });

  test('in own time, CPU of other threads never counts for more than the wall time', async () => {
    const { state, wait } = setup();
    wait.ownWaitMs(1);
    state.now += 10;
    state.cpu += 18; // GC helper threads busy beside the loop
    await nextTurn();
    assert.equal(wait.ownWaitMs(1), 10);
  });
});
