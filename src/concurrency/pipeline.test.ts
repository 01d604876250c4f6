import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { pipeline, type Pipeline } from './index.js';

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

  test('a reader that pauses leaves each stage holding concurrency + buffer results, and the source is pulled no further', async () => {
    let pulled = 0;
    function* source() {
      for (let i = 0; i < 1000; i++) {
        pulled++;
        yield i;
      }
    }
    const run = pipeline(
      source(),
      { name: 'a', concurrency: 2, buffer: 3, fn: (n: number) => n },
      {
        name: 'b',
        concurrency: 1,
        buffer: 2,
        fn: async (n: number) => {
          await tick();
          return n;
        },
      },
      { name: 'c', concurrency: 4, buffer: 1, fn: (n: number) => n },
    );
    const reader = run[Symbol.asyncIterator]();
    assert.deepEqual(await reader.next(), { value: 0, done: false });
    // Let the stages fill up until nothing moves any more.
    let settled = 0;
    let last = '';
    for (let i = 0; i < 10_000 && settled < 20; i++) {
      await tick();
      const now = JSON.stringify([pulled, run.stats().map((s) => [s.done, s.buffered])]);
      settled = now === last ? settled + 1 : 0;
      last = now;
    }
    assert.deepEqual(
      run.stats().map((s) => [s.name, s.active, s.buffered]),
      [
        ['a', 0, 2 + 3],
        ['b', 0, 1 + 2],
        ['c', 0, 4 + 1],
      ],
    );
    // What the stages hold, plus the one item read.
    assert.equal(pulled, 5 + 3 + 5 + 1);
    await reader.return?.();
  });

  test('eight stages given at once are typed end to end and run in order', async () => {
    const inc = (n: number) => n + 1;
    const run: Pipeline<string> = pipeline(
      [0, 10],
      { fn: inc },
      { fn: inc },
      { fn: (n: number) => [n] },
      { fn: (a: number[]) => a[0]! },
      { fn: inc },
      { fn: async (n: number) => ({ n }) },
      { fn: ({ n }: { n: number }) => n * 2 },
      { name: 'last', fn: (n: number) => `=${n}` },
    );
    const out: string[] = [];
    for await (const s of run) out.push(s);
    assert.deepEqual(out, ['=6', '=26']);
    assert.equal(run.stats().length, 8);
    assert.equal(run.stats()[7]!.name, 'last');
  });

  test('pipe() chains stages of any number, each typed from the output before it', async () => {
    let run = pipeline([1, 2, 3]).pipe({ name: 'first', fn: (n: number) => n * 10 });
    for (let i = 0; i < 11; i++) run = run.pipe({ concurrency: 2, fn: async (n) => n + 1 });
    const labelled = run.pipe({ name: 'label', fn: (n) => `#${n}` });
    const out: string[] = [];
    for await (const s of labelled) out.push(s);
    assert.deepEqual(out, ['#21', '#31', '#41']);
    assert.deepEqual(
      labelled.stats().map((s) => [s.name, s.done]),
      [['first', 3], ...Array.from({ length: 11 }, (_, i) => [`stage${i + 2}`, 3]), ['label', 3]],
    );
  });

  test('a stage whose input type is not the previous output is a type error', () => {
    const toText = { fn: (n: number) => String(n) };
    const needsNumber = { fn: (n: number) => n * 2 };
    // Built, never read: these lines are about their types.
    // @ts-expect-error a string-producing stage cannot feed a stage that takes numbers
    pipeline([1], toText, needsNumber);
    // @ts-expect-error the same through pipe()
    pipeline([1]).pipe(toText).pipe(needsNumber);
    // @ts-expect-error the source's items are numbers, not strings
    pipeline([1], { fn: (s: string) => s.length });
    const run: Pipeline<string> = pipeline([1]).pipe(toText);
    assert.ok(run);
  });

  test('pipe() is refused once the pipeline is read, and a piped pipeline cannot be read', async () => {
    const reading = pipeline([1, 2]).pipe({ fn: (n: number) => n });
    const reader = reading[Symbol.asyncIterator]();
    await reader.next();
    assert.throws(() => reading.pipe({ fn: (n: number) => n }), { code: 'HP_ERR_INVALID_OPTION' });
    await reader.return?.();
    const piped = pipeline([1, 2]);
    piped.pipe({ fn: (n: number) => n });
    assert.throws(() => piped[Symbol.asyncIterator](), { code: 'HP_ERR_INVALID_OPTION' });
    assert.throws(() => piped.pipe({ fn: (n: number) => n }), { code: 'HP_ERR_INVALID_OPTION' });
  });

  test('a stage without fn is refused, naming its place', () => {
    assert.throws(() => pipeline([1], { fn: (n: number) => n }, { name: 'x' } as never), {
      code: 'HP_ERR_INVALID_OPTION',
      message: /stages\[1\]/,
    });
  });

  test('a pipeline with no stage yields its source, and the signal stops it', async () => {
    const out: number[] = [];
    for await (const n of pipeline([1, 2, 3])) out.push(n);
    assert.deepEqual(out, [1, 2, 3]);
    const controller = new AbortController();
    controller.abort();
    await assert.rejects(
      async () => {
        for await (const n of pipeline([1, 2, 3], { signal: controller.signal })) out.push(n);
      },
      { code: 'HP_ERR_ABORTED' },
    );
  });
});
