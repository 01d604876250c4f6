import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { keepBusy, plantedHotLoop } from '../../test/fixtures/profile/workload.js';
import { AbortedError } from '../errors/index.js';
import { takeChunkedCpuProfile } from './chunked-cpu-profile.js';
import type { CpuProfile } from './cpu-profile.js';
import type { InspectorTarget } from './inspector-target.js';
import { openThreadTarget } from './inspector-target.js';
import { Profiler } from './profiler.js';
import { topFunctions, treeFromCpuProfile } from './profile-tree.js';

/** Absolute sample times (V8's microsecond clock) of a profile. */
function sampleTimes(profile: CpuProfile): number[] {
  let ts = profile.startTime;
  return (profile.timeDeltas ?? []).map((d) => (ts += d));
}

/** Leaf function name of each sample. */
function leafNames(profile: CpuProfile): string[] {
  const byId = new Map(profile.nodes.map((n) => [n.id, n.callFrame.functionName]));
  return (profile.samples ?? []).map((id) => byId.get(id) ?? '?');
}

describe('takeChunkedCpuProfile', () => {
  test('the folded chunks hold exactly the samples one profile of the same window takes', async () => {
    // A whole-window profile in the same inspector session records the same V8 ticks (one
    // CPU profiler per session); it is stopped just before the chunked run disables the domain.
    const inner = openThreadTarget();
    let reference: CpuProfile | undefined;
    const target: InspectorTarget = {
      label: inner.label,
      on: (event, listener) => inner.on(event, listener),
      close: () => inner.close(),
      consoleProfile: (title, end) => inner.consoleProfile!(title, end),
      async post(method, params) {
        if (method === 'Profiler.disable' && reference === undefined) {
          ({ profile: reference } = (await inner.post('Profiler.stop')) as {
            profile: CpuProfile;
          });
        }
        const result = await inner.post(method, params);
        if (method === 'Profiler.setSamplingInterval') await inner.post('Profiler.start');
        return result;
      },
    };
    try {
      const aggregate = await keepBusy(
        // A long overlap: the lag between a tick and its recording grows on a loaded machine,
        // and this test wants the seams exact, not probably exact.
        takeChunkedCpuProfile(target, {
          durationMs: 1000,
          chunkMs: 150,
          lastChunkMs: 60,
          overlapMs: 100,
        }),
        plantedHotLoop,
      );
      // About 7 chunks; fewer when timers fire late on a loaded machine.
      assert.ok(aggregate.chunkCount >= 3, `${aggregate.chunkCount} chunks`);
      assert.ok(aggregate.duplicateCount > 0, 'the overlaps recorded the same ticks twice');
      assert.ok(reference !== undefined);
      const merged = aggregate.toCpuProfile();
      const ours = sampleTimes(merged);
      const first = ours[0]!;
      const last = ours.at(-1)!;
      const times = sampleTimes(reference);
      const names = leafNames(reference);
      const window = times.flatMap((t, i) => (t >= first && t <= last ? [i] : []));
      assert.deepEqual(
        ours,
        window.map((i) => times[i]),
      );
      assert.deepEqual(
        leafNames(merged),
        window.map((i) => names[i]),
      );
      assert.equal(topFunctions(treeFromCpuProfile(merged))[0]?.name, 'plantedHotLoop');
      assert.ok(Number.isFinite(aggregate.stoppedAt));
    } finally {
      await target.close();
    }
  });

  test('globals named profile and profileEnd get in the way of neither way of starting chunks', async (t) => {
    const globals = globalThis as { profile?: unknown; profileEnd?: unknown };
    let called = 0;
    globals.profile = globals.profileEnd = () => called++;
    t.after(() => {
      delete globals.profile;
      delete globals.profileEnd;
    });
    const inner = openThreadTarget();
    // Without consoleProfile the chunks are started by evaluating a command, as in a worker.
    const evaluated: InspectorTarget = {
      label: inner.label,
      on: (event, listener) => inner.on(event, listener),
      close: () => inner.close(),
      post: (method, params) => inner.post(method, params),
    };
    try {
      for (const target of [inner, evaluated]) {
        const aggregate = await keepBusy(
          takeChunkedCpuProfile(target, { durationMs: 400, chunkMs: 100, lastChunkMs: 50 }),
          plantedHotLoop,
        );
        assert.ok(aggregate.chunkCount >= 2, `${aggregate.chunkCount} chunks`);
        assert.ok(aggregate.sampleCount > 0);
      }
      assert.equal(called, 0);
    } finally {
      await inner.close();
    }
  });

  test('an aborted chunked profile rejects with AbortedError and stops its chunks', async () => {
    const target = openThreadTarget();
    try {
      const controller = new AbortController();
      const running = takeChunkedCpuProfile(target, {
        durationMs: 30_000,
        chunkMs: 50,
        lastChunkMs: 20,
        signal: controller.signal,
      });
      await new Promise((resolve) => setTimeout(resolve, 120));
      controller.abort();
      await assert.rejects(running, AbortedError);
      // Nothing left running: a new profile can start and finish at once.
      const again = await takeChunkedCpuProfile(target, { durationMs: 50 });
      assert.equal(again.chunkCount, 1);
    } finally {
      await target.close();
    }
  });
});

describe('Profiler with chunked CPU profiles', () => {
  const profiler = new Profiler({ chunkMs: 100, lastChunkMs: 50 });
  after(() => profiler.close());

  test('options are checked', () => {
    assert.throws(() => new Profiler({ chunkMs: 10 }), { option: 'chunkMs' });
    assert.throws(() => new Profiler({ chunkMs: 500, lastChunkMs: 600 }), {
      option: 'lastChunkMs',
    });
  });

  test('a worker thread profile is folded from several chunks and shows its hot function', async (t) => {
    const worker = new Worker(
      `function plantedWorkerLoop() { let x = 0; for (let i = 0; i < 1e5; i++) x += Math.sqrt(i); return x; }
       const { parentPort } = require('node:worker_threads');
       const timer = setInterval(() => { for (let i = 0; i < 20; i++) plantedWorkerLoop(); }, 1);
       parentPort.once('message', () => clearInterval(timer));
       parentPort.postMessage('ready');`,
      { eval: true, name: 'chunked-cruncher' },
    );
    t.after(() => worker.terminate());
    await new Promise((resolve) => worker.once('message', resolve));
    const aggregate = await profiler.cpuProfileAggregate({
      seconds: 1,
      worker: 'chunked-cruncher',
    });
    worker.postMessage('stop');
    // About 10 chunks; fewer when timers fire late on a loaded machine.
    assert.ok(aggregate.chunkCount >= 2, `${aggregate.chunkCount} chunks`);
    const names = topFunctions(treeFromCpuProfile(aggregate.toCpuProfile()))
      .slice(0, 3)
      .map((f) => f.name);
    assert.ok(names.includes('plantedWorkerLoop'), `top frames: ${names.join(', ')}`);
  });
});
