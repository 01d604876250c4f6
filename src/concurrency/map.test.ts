import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { map, mapIterable } from './index.js';

/** A promise with its resolve function outside. */
function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('map', () => {
  test('resolves with the results in input order', async () => {
    const out = await map([3, 1, 2], async (n) => {
      for (let i = 0; i < n; i++) await tick();
      return n * 10;
    });
    assert.deepEqual(out, [30, 10, 20]);
  });

  test('never runs more calls than the concurrency over an async iterable', async () => {
    async function* source() {
      for (let i = 0; i < 200; i++) yield i;
    }
    let running = 0;
    let peak = 0;
    const out = await map(
      source(),
      async (n) => {
        running++;
        peak = Math.max(peak, running);
        await tick();
        running--;
        return n;
      },
      { concurrency: 4 },
    );
    assert.equal(out.length, 200);
    assert.equal(peak, 4);
  });

  test('stops on the first error and closes the input', async () => {
    let closed = false;
    let pulled = 0;
    function* source() {
      try {
        for (let i = 0; i < 1000; i++) {
          pulled++;
          yield i;
        }
      } finally {
        closed = true;
      }
    }
    const signals: AbortSignal[] = [];
    await assert.rejects(
      map(
        source(),
        async (n, _i, signal) => {
          signals.push(signal);
          await tick();
          if (n === 5) throw new Error('boom');
          return n;
        },
        { concurrency: 2 },
      ),
      /boom/,
    );
    assert.ok(closed);
    assert.ok(pulled < 20, `pulled ${pulled}`);
    assert.ok(signals[0]!.aborted);
  });

  test('collects every failure in an AggregateError when stopOnError is false', async () => {
    let ran = 0;
    const error = await map(
      [1, 2, 3, 4],
      (n) => {
        ran++;
        if (n % 2 === 0) throw new Error(`bad ${n}`);
        return n;
      },
      { stopOnError: false },
    ).then(
      () => assert.fail('resolved'),
      (e: unknown) => e,
    );
    assert.ok(error instanceof AggregateError);
    assert.deepEqual(
      error.errors.map((e: Error) => e.message),
      ['bad 2', 'bad 4'],
    );
    assert.equal(ran, 4);
  });

  test('rejects with HP_ERR_ABORTED when its signal aborts', async () => {
    const controller = new AbortController();
    const gate = deferred();
    const run = map(
      [1, 2, 3],
      async () => {
        await gate.promise;
        return 1;
      },
      { signal: controller.signal },
    );
    controller.abort();
    await assert.rejects(run, { code: 'HP_ERR_ABORTED' });
    gate.resolve();
  });

  test('rejects at once, running nothing, when its signal is already aborted', async () => {
    let ran = 0;
    await assert.rejects(
      map([1, 2], () => ran++, { signal: AbortSignal.abort() }),
      { code: 'HP_ERR_ABORTED' },
    );
    assert.equal(ran, 0);
  });

  test('refuses a concurrency below 1', async () => {
    await assert.rejects(
      map([], (n) => n, { concurrency: 0 }),
      {
        code: 'HP_ERR_INVALID_OPTION',
      },
    );
  });
});

describe('mapIterable', () => {
  test('yields in input order by default and in completion order when unordered', async () => {
    const gates = [deferred(), deferred(), deferred()];
    const fn = async (n: number) => {
      await gates[n]!.promise;
      return n;
    };
    const ordered: number[] = [];
    const unordered: number[] = [];
    const reading = Promise.all([
      (async () => {
        for await (const n of mapIterable([0, 1, 2], fn, { concurrency: 3 })) ordered.push(n);
      })(),
      (async () => {
        for await (const n of mapIterable([0, 1, 2], fn, { concurrency: 3, ordered: false }))
          unordered.push(n);
      })(),
    ]);
    for (const i of [2, 1, 0]) {
      gates[i]!.resolve();
      for (let k = 0; k < 5; k++) await tick();
    }
    await reading;
    assert.deepEqual(ordered, [0, 1, 2]);
    assert.deepEqual(unordered, [2, 1, 0]);
  });

  test('over 1M generated items, items pulled but not consumed never exceed concurrency + buffer + the one being read', async () => {
    const concurrency = 8;
    const buffer = 4;
    let pulled = 0;
    let consumed = 0;
    let peak = 0;
    function* source() {
      for (let i = 0; i < 1_000_000; i++) {
        pulled++;
        peak = Math.max(peak, pulled - consumed);
        yield i;
      }
    }
    let sum = 0;
    // Every 1000th item waits a turn of the event loop so results pile up behind it.
    for await (const n of mapIterable(
      source(),
      (n) => (n % 1000 === 0 ? tick().then(() => n) : n),
      { concurrency, buffer },
    )) {
      consumed++;
      sum += n;
    }
    assert.equal(consumed, 1_000_000);
    assert.equal(sum, (999_999 * 1_000_000) / 2);
    // The +1 is the result on its way to the loop body: taken from the buffer, not yet counted.
    assert.ok(peak <= concurrency + buffer + 1, `peak ${peak}`);
    assert.ok(peak > concurrency, `peak ${peak}: the buffer was never used`);
  });

  test('pulls nothing before the first read and stops the input when the loop breaks', async () => {
    let pulled = 0;
    let closed = false;
    async function* source() {
      try {
        for (;;) {
          pulled++;
          yield pulled;
        }
      } finally {
        closed = true;
      }
    }
    const results = mapIterable(source(), async (n) => n, { concurrency: 2 });
    await tick();
    assert.equal(pulled, 0);
    for await (const n of results) if (n >= 10) break;
    for (let k = 0; k < 5; k++) await tick();
    assert.ok(closed);
    assert.ok(pulled <= 10 + 2 + 2, `pulled ${pulled}`);
  });

  test('throws the failure from the read after it', async () => {
    const seen: number[] = [];
    await assert.rejects(async () => {
      for await (const n of mapIterable([1, 2, 3], (n) => {
        if (n === 2) throw new Error('two');
        return n;
      }))
        seen.push(n);
    }, /two/);
    assert.deepEqual(seen, [1]);
  });
});
