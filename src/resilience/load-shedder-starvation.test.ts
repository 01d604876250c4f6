import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { availableParallelism } from 'node:os';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { LoadShedder, type ShedStateChange } from './index.js';

const hasTaskset = process.platform === 'linux' && spawnSync('taskset', ['--version']).status === 0;
const skip = hasTaskset ? false : 'needs Linux and taskset (util-linux) to pin two processes';

/** Busy-waits `ms` milliseconds: the process's own work. */
function work(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end);
}

describe('LoadShedder under CPU starvation (a hog pinned to the same core)', { skip }, () => {
  const cpus = `0-${availableParallelism() - 1}`;
  after(() => {
    spawnSync('taskset', ['-p', '-c', cpus, String(process.pid)]);
  });

  test('sheds for a loop it reads in wall time, not for one it reads in CPU time', async () => {
    // This process and a child spinning forever share core 0: the loop's work (7 ms every
    // 10 ms, 70% of a core, under the 85% threshold) runs about half the time it wants.
    assert.equal(spawnSync('taskset', ['-p', '-c', '0', String(process.pid)]).status, 0);
    const hog = spawn('taskset', ['-c', '0', process.execPath, '-e', 'for (;;) {}'], {
      stdio: 'ignore',
    });
    const started: string[] = [];
    const listener = (m: unknown) => {
      const change = m as ShedStateChange;
      if (change.isShedding) started.push(change.name);
    };
    subscribe('hotpath:resilience:shed', listener);
    const aware = new LoadShedder({ name: 'cpu-time' });
    const wall = new LoadShedder({ name: 'wall-time', shouldDiscountStarvation: false });
    const load = setInterval(() => work(7), 10);
    try {
      await sleep(2500);
      const own = aware.stats();
      assert.ok(
        started.includes('wall-time'),
        `the wall-time shedder never shed: the scenario did not starve the loop (utilization ${wall.stats().utilization.toFixed(2)})`,
      );
      assert.ok(
        !started.includes('cpu-time'),
        `the CPU-time shedder shed (utilization ${own.utilization.toFixed(2)}, own ${own.ownUtilization.toFixed(2)}, stall ${own.delayMs.toFixed(1)} ms)`,
      );
      assert.ok(
        own.ownUtilization < own.utilization,
        'the process ran less than its loop was busy',
      );
    } finally {
      clearInterval(load);
      hog.kill('SIGKILL');
      unsubscribe('hotpath:resilience:shed', listener);
      await aware.close();
      await wall.close();
    }
  });
});
