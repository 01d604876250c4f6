import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { pipeline } from './index.js';

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('pipeline', () => {
  test('runs items through every stage in order and counts each stage', async () => {
    const run = pipeline(
      [1, 2, 3, 4, 5],
      { name: 'double', concurrency: 2, fn: async (n: number) => n * 2 },
      { name: 'label', fn: (n: number) => `#${n}` },
    );
    const out: string[] = [];
    for await (const s of run) out.push(s);
    assert.deepEqual(out, ['#2', '#4', '#6', '#8', '#10']);
    assert.deepEqual(
      run.stats().map((s) => [s.name, s.done, s.active, s.buffered]),
      [
        ['double', 5, 0, 0],
        ['label', 5, 0, 0],
      ],
    );
  });

  test('a slow last stage holds back the source: pulled minus finished stays bounded', async () => {
    let pulled = 0;
    let finished = 0;
    let peak = 0;
    function* source() {
      for (let i = 0; i < 10_000; i++) {
        pulled++;
        peak = Math.max(peak, pulled - finished);
        yield i;
      }
    }
    const run = pipeline(
      source(),
      { name: 'fast', concurrency: 4, buffer: 4, fn: (n: number) => n },
      {
        name: 'slow',
        concurrency: 2,
        buffer: 2,
        fn: async (n: number) => {
          await tick();
          return n;
        },
      },
    );
    let count = 0;
    for await (const n of run) {
      finished++;
      count += n >= 0 ? 1 : 0;
    }
    assert.equal(count, 10_000);
    // Each stage holds at most concurrency + buffer, plus one in hand per hop.
    assert.ok(peak <= 4 + 4 + 2 + 2 + 2, `peak ${peak}`);
  });

  test('the first failure of a stage ends the pipeline', async () => {
    const run = pipeline(
      [1, 2, 3],
      {
        fn: (n: number) => {
          if (n === 2) throw new Error('stage failed');
          return n;
        },
      },
      { fn: (n: number) => n },
    );
    await assert.rejects(async () => {
      for await (const n of run) assert.equal(n, 1);
    }, /stage failed/);
  });
});
