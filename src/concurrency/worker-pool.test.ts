import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { after, describe, test } from 'node:test';
import { MetricsRegistry } from 'hotpath/metrics';
import { PoolQueueFullError, WorkerPool } from './index.js';

const tasks = new URL('../../test/fixtures/concurrency/pool-tasks.ts', import.meta.url);

/** A gate a `hold` task blocks on until `open()`. */
function gate(): { flag: Int32Array; open: () => void } {
  const flag = new Int32Array(new SharedArrayBuffer(4));
  return {
    flag,
    open: () => {
      Atomics.store(flag, 0, 1);
      Atomics.notify(flag, 0);
    },
  };
}

describe('WorkerPool', () => {
  const pools: WorkerPool[] = [];
  after(async () => {
    await Promise.all(pools.map((p) => p.close()));
  });
  function pool<T, R>(options: Partial<ConstructorParameters<typeof WorkerPool>[0]> = {}) {
    const p = new WorkerPool<T, R>({ filename: tasks, maxThreads: 1, minThreads: 1, ...options });
    pools.push(p as WorkerPool);
    return p;
  }

  test('runs the default export on a thread and records queue wait and run time', async () => {
    const registry = new MetricsRegistry();
    const p = pool<number, number>({ registry, metricsPrefix: 'test_pool' });
    assert.deepEqual(await Promise.all([1, 2, 3].map((n) => p.run(n))), [2, 4, 6]);
    assert.equal(p.runTime.count, 3);
    assert.equal(p.queueWait.count, 3);
    const text = await registry.metrics();
    assert.match(text, /test_pool_run_seconds_count 3/);
    assert.match(text, /test_pool_in_flight 0/);
    assert.match(text, /test_pool_utilization /);
  });

  test('refuses past running slots plus maxQueue with HP_ERR_POOL_QUEUE_FULL, and says so first', async () => {
    const p = pool<Int32Array, string>({ name: 'hold', maxQueue: 2 });
    const g = gate();
    const running = [p.run(g.flag), p.run(g.flag), p.run(g.flag)];
    assert.equal(p.isFull, true);
    assert.deepEqual(p.stats().queued, 2);
    await assert.rejects(p.run(g.flag), (e: unknown) => {
      assert.ok(e instanceof PoolQueueFullError);
      assert.equal(e.code, 'HP_ERR_POOL_QUEUE_FULL');
      assert.equal(e.capacity, 3);
      return true;
    });
    g.open();
    assert.deepEqual(await Promise.all(running), ['released', 'released', 'released']);
    assert.equal(p.isFull, false);
    assert.equal(p.stats().inFlight, 0);
  });

  test('aborted queued tasks free their places at once (piscina#1029)', async () => {
    const p = pool<Int32Array, string>({ name: 'hold', maxQueue: 2 });
    const g = gate();
    const first = p.run(g.flag);
    const controllers = [new AbortController(), new AbortController()];
    const queued = controllers.map((c) => p.run(g.flag, { signal: c.signal }));
    assert.equal(p.isFull, true);
    for (const c of controllers) c.abort();
    for (const q of queued) await assert.rejects(q, { code: 'HP_ERR_ABORTED' });
    assert.equal(p.isFull, false);
    assert.deepEqual(p.stats().queued, 0);
    // The two places are really free: two more tasks fit, a third does not.
    const refill = [p.run(g.flag), p.run(g.flag)];
    await assert.rejects(p.run(g.flag), { code: 'HP_ERR_POOL_QUEUE_FULL' });
    g.open();
    assert.deepEqual(await Promise.all([first, ...refill]), ['released', 'released', 'released']);
    assert.equal(p.stats().inFlight, 0);
  });

  test('moves buffers both ways through transfer lists', async () => {
    const p = pool<ArrayBuffer, Uint8Array>({ name: 'bytes' });
    const input = new Uint8Array([1, 2, 3]);
    const out = await p.run(input.buffer, { transferList: [input.buffer] });
    assert.equal(input.byteLength, 0, 'the input buffer moved to the thread');
    assert.deepEqual([...out], [2, 4, 6]);
  });

  test('passes a task failure through and counts it out of flight', async () => {
    const p = pool<string, never>({ name: 'fail' });
    await assert.rejects(p.run('nope'), /nope/);
    assert.equal(p.stats().inFlight, 0);
  });

  test('refuses tasks after close() with HP_ERR_CLOSED', async () => {
    const p = pool<number, number>();
    assert.equal(await p.run(1), 2);
    await p.close();
    await assert.rejects(p.run(1), { code: 'HP_ERR_CLOSED' });
  });

  test('checks its options', () => {
    assert.throws(() => new WorkerPool({ filename: 'relative.js' }), {
      code: 'HP_ERR_INVALID_OPTION',
    });
    assert.throws(() => new WorkerPool({ filename: tasks, maxThreads: 0 }), {
      code: 'HP_ERR_INVALID_OPTION',
    });
  });

  test('starts its threads in a process run with V8 flags such as --max-old-space-size', () => {
    const script = fileURLToPath(new URL('./fixtures/pool-in-flagged-process.ts', import.meta.url));
    const child = spawnSync(
      process.execPath,
      ['--max-old-space-size=256', '--expose-gc', '--conditions=source', '--import', 'tsx', script],
      { encoding: 'utf8', timeout: 30_000 },
    );
    assert.equal(child.stderr, '');
    assert.equal(child.status, 0);
    assert.equal(child.stdout, '42\n');
  });
});
