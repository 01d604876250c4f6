import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { Worker } from 'node:worker_threads';
import {
  keepBusy,
  plantedAllocator,
  plantedHotLoop,
  releaseRetained,
} from '../../test/fixtures/profile/workload.js';
import { AbortedError, InvalidOptionError } from '../errors/index.js';
import {
  cpuProfileToPprof,
  decodePprof,
  encodePprof,
  heapProfileToPprof,
  readProfileTree,
} from './pprof.js';
import { Profiler } from './profiler.js';
import { topFunctions, treeFromCpuProfile, treeFromHeapProfile } from './profile-tree.js';
import { ProfileBusyError, WorkerNotFoundError } from './errors.js';

describe('Profiler', () => {
  const profiler = new Profiler();
  after(() => profiler.close());

  test('a planted CPU-bound function dominates the CPU profile, mapped to its .ts source', async () => {
    const profile = await keepBusy(profiler.cpuProfile({ seconds: 1 }), plantedHotLoop);
    const top = topFunctions(treeFromCpuProfile(profile));
    const total = top.reduce((sum, f) => sum + f.self, 0);
    assert.equal(top[0]?.name, 'plantedHotLoop');
    assert.ok(top[0].self / total > 0.5, `plantedHotLoop self share ${top[0].self / total}`);
    assert.match(top[0].file, /workload\.ts$/);
    assert.equal(top[0].line, 7);
  });

  test('its pprof encoding decodes with pprof-format, has samples and names the function', async () => {
    const profile = await keepBusy(profiler.cpuProfile({ seconds: 0.5 }), plantedHotLoop);
    const bytes = encodePprof(cpuProfileToPprof(profile, { intervalUs: profiler.intervalUs }));
    assert.deepEqual([...bytes.subarray(0, 2)], [0x1f, 0x8b]);
    const decoded = decodePprof(bytes);
    const strings = decoded.stringTable.strings;
    assert.ok(decoded.sample.length > 0);
    assert.deepEqual(
      decoded.sampleType.map((t) => `${strings[Number(t.type)]}/${strings[Number(t.unit)]}`),
      ['samples/count', 'cpu/nanoseconds'],
    );
    assert.ok(strings.includes('plantedHotLoop'));
    assert.equal(topFunctions(readProfileTree(bytes))[0]?.name, 'plantedHotLoop');
  });

  test('a second concurrent CPU profile is refused with ProfileBusyError', async () => {
    const first = profiler.cpuProfile({ seconds: 0.2 });
    assert.equal(profiler.isBusy('cpu'), true);
    await assert.rejects(profiler.cpuProfile({ seconds: 0.2 }), ProfileBusyError);
    await first;
    assert.equal(profiler.isBusy('cpu'), false);
  });

  test('an aborted profile rejects with AbortedError and frees the slot', async () => {
    const controller = new AbortController();
    const running = profiler.cpuProfile({ seconds: 30, signal: controller.signal });
    controller.abort();
    await assert.rejects(running, AbortedError);
    assert.equal(profiler.isBusy('cpu'), false);
  });

  test('the heap profile shows a planted allocation site', async () => {
    try {
      const profile = await keepBusy(profiler.heapProfile({ seconds: 0.5 }), plantedAllocator);
      const top = topFunctions(treeFromHeapProfile(profile));
      const site = top.find((f) => f.name === 'plantedAllocator');
      assert.ok(site !== undefined, 'plantedAllocator is in the heap profile');
      assert.equal(top[0]?.name, 'plantedAllocator');
      const pprof = decodePprof(encodePprof(heapProfileToPprof(profile)));
      const strings = pprof.stringTable.strings;
      assert.equal(strings[Number(pprof.sampleType[1]!.type)], 'inuse_space');
      assert.ok(pprof.sample.length > 0);
    } finally {
      releaseRetained();
    }
  });

  test('a named worker thread can be profiled', async (t) => {
    const worker = new Worker(
      `function plantedWorkerLoop() { let x = 0; for (let i = 0; i < 1e5; i++) x += Math.sqrt(i); return x; }
       const { parentPort } = require('node:worker_threads');
       const timer = setInterval(() => { for (let i = 0; i < 20; i++) plantedWorkerLoop(); }, 1);
       parentPort.once('message', () => clearInterval(timer));
       parentPort.postMessage('ready');`,
      { eval: true, name: 'cruncher' },
    );
    t.after(() => worker.terminate());
    await new Promise((resolve) => worker.once('message', resolve));
    const profile = await profiler.cpuProfile({ seconds: 0.5, worker: 'cruncher' });
    const names = topFunctions(treeFromCpuProfile(profile))
      .slice(0, 3)
      .map((f) => f.name);
    assert.ok(names.includes('plantedWorkerLoop'), `top frames: ${names.join(', ')}`);
    worker.postMessage('stop');
    await assert.rejects(
      profiler.cpuProfile({ seconds: 0.1, worker: 'nobody' }),
      WorkerNotFoundError,
    );
  });

  test('options are checked in the constructor', () => {
    assert.throws(() => new Profiler({ intervalUs: 0 }), InvalidOptionError);
    assert.throws(() => new Profiler({ maxSeconds: -1 }), { option: 'maxSeconds' });
  });

  test('a profile longer than maxSeconds is refused', async () => {
    await assert.rejects(profiler.cpuProfile({ seconds: 61 }), { option: 'seconds' });
  });
});
