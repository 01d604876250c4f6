import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Bulkhead, BulkheadFullError } from './index.js';

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

describe('Bulkhead', () => {
  test('runs at most maxConcurrent calls, queues up to maxQueue and refuses the rest', async () => {
    const bulkhead = new Bulkhead({ maxConcurrent: 2, maxQueue: 1 });
    const gates = [deferred(), deferred(), deferred()];
    let peak = 0;
    let running = 0;
    const task = (i: number) => async () => {
      running++;
      peak = Math.max(peak, running);
      await gates[i]!.promise;
      running--;
      return i;
    };
    const a = bulkhead.execute(task(0));
    const b = bulkhead.execute(task(1));
    const c = bulkhead.execute(task(2));
    assert.equal(bulkhead.running, 2);
    assert.equal(bulkhead.queued, 1);
    await assert.rejects(
      bulkhead.execute(task(0)),
      (e: unknown) => e instanceof BulkheadFullError && e.code === 'HP_ERR_BULKHEAD_FULL',
    );
    gates[0]!.resolve();
    assert.equal(await a, 0);
    gates[1]!.resolve();
    gates[2]!.resolve();
    assert.deepEqual(await Promise.all([b, c]), [1, 2]);
    assert.equal(peak, 2);
    assert.equal(bulkhead.running, 0);
  });

  test('a queued call whose signal aborts leaves the queue', async () => {
    const bulkhead = new Bulkhead({ maxConcurrent: 1, maxQueue: 5 });
    const gate = deferred();
    const first = bulkhead.execute(() => gate.promise);
    const controller = new AbortController();
    const queued = bulkhead.execute(() => Promise.resolve('never'), controller.signal);
    assert.equal(bulkhead.queued, 1);
    controller.abort();
    await assert.rejects(queued, { code: 'HP_ERR_ABORTED' });
    assert.equal(bulkhead.queued, 0);
    gate.resolve();
    await first;
    assert.equal(bulkhead.running, 0);
  });

  test('a failing call frees its slot', async () => {
    const bulkhead = new Bulkhead({ maxConcurrent: 1 });
    await assert.rejects(
      bulkhead.execute(() => Promise.reject(new Error('x'))),
      /x/,
    );
    assert.equal(await bulkhead.execute(() => Promise.resolve(1)), 1);
  });

  test('rejects bad options naming the option', () => {
    assert.throws(() => new Bulkhead({ maxConcurrent: 0 }), /maxConcurrent/);
    assert.throws(() => new Bulkhead({ maxConcurrent: 1, maxQueue: -1 }), /maxQueue/);
  });
});
