import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { describe, test } from 'node:test';
import {
  ConcurrencyLimiter,
  ConcurrencyLimitError,
  TimeoutError,
  type ConcurrencyLimitChange,
  type LimitAlgorithm,
  type LimitSample,
} from './index.js';

/** An algorithm whose limit the test sets, recording what it was fed. */
class FixedLimit implements LimitAlgorithm {
  samples: LimitSample[] = [];
  constructor(public limit: number) {}
  update(sample: LimitSample): void {
    this.samples.push(sample);
  }
}

function deferred<T = void>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe('ConcurrencyLimiter', () => {
  test('runs calls up to the limit and refuses the next with HP_ERR_CONCURRENCY_LIMIT', async () => {
    const limiter = new ConcurrencyLimiter({ algorithm: new FixedLimit(2) });
    const gates = [deferred(), deferred()];
    const a = limiter.execute(() => gates[0]!.promise);
    const b = limiter.execute(() => gates[1]!.promise);
    assert.equal(limiter.inFlight, 2);
    await assert.rejects(
      limiter.execute(() => Promise.resolve()),
      (e: unknown) =>
        e instanceof ConcurrencyLimitError &&
        e.code === 'HP_ERR_CONCURRENCY_LIMIT' &&
        e.limit === 2 &&
        e.inFlight === 2 &&
        !e.didWait,
    );
    gates[0]!.resolve();
    await a;
    assert.equal(limiter.inFlight, 1);
    await limiter.execute(() => Promise.resolve());
    gates[1]!.resolve();
    await b;
    assert.deepEqual(limiter.stats(), {
      limit: 2,
      inFlight: 0,
      queued: 0,
      admitted: 3,
      rejected: 1,
    });
  });

  test('feeds each call its latency from the clock and the in-flight count at its start', async () => {
    const algorithm = new FixedLimit(10);
    let now = 100;
    const limiter = new ConcurrencyLimiter({ algorithm, clock: { now: () => now } });
    const gate = deferred();
    const first = limiter.execute(() => gate.promise);
    now = 110;
    const second = limiter.execute(() => Promise.resolve('b'));
    now = 125;
    assert.equal(await second, 'b');
    gate.resolve();
    await first;
    assert.deepEqual(
      algorithm.samples.map((s) => [s.rttMs, s.inFlight, s.didDrop]),
      [
        [15, 2, false],
        [25, 1, false],
      ],
    );
  });

  test('a timeout is fed as a drop; other errors are not fed at all', async () => {
    const algorithm = new FixedLimit(10);
    const limiter = new ConcurrencyLimiter({ algorithm });
    await assert.rejects(
      limiter.execute(() => Promise.reject(new TimeoutError(5))),
      {
        code: 'HP_ERR_TIMEOUT',
      },
    );
    await assert.rejects(limiter.execute(() => Promise.reject(new Error('bad request'))));
    await assert.rejects(
      limiter.execute(() => {
        throw new Error('sync');
      }),
    );
    assert.deepEqual(
      algorithm.samples.map((s) => s.didDrop),
      [true],
    );
    assert.equal(limiter.inFlight, 0);
  });

  test('queues up to maxQueue in FIFO order and hands freed slots on', async () => {
    const limiter = new ConcurrencyLimiter({
      algorithm: new FixedLimit(1),
      maxQueue: 2,
      queueTimeoutMs: 10_000,
    });
    const gate = deferred();
    const order: string[] = [];
    const first = limiter.execute(() => gate.promise.then(() => order.push('first')));
    const second = limiter.execute(async () => order.push('second'));
    const third = limiter.execute(async () => order.push('third'));
    assert.equal(limiter.queued, 2);
    await assert.rejects(
      limiter.execute(async () => 0),
      { code: 'HP_ERR_CONCURRENCY_LIMIT' },
    );
    gate.resolve();
    await Promise.all([first, second, third]);
    assert.deepEqual(order, ['first', 'second', 'third']);
    assert.equal(limiter.inFlight, 0);
  });

  test('a call queued longer than queueTimeoutMs is refused with didWait', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const limiter = new ConcurrencyLimiter({
      algorithm: new FixedLimit(1),
      maxQueue: 1,
      queueTimeoutMs: 50,
    });
    const gate = deferred();
    const first = limiter.execute(() => gate.promise);
    const queued = limiter.execute(async () => 'late');
    t.mock.timers.tick(49);
    assert.equal(limiter.queued, 1);
    t.mock.timers.tick(1);
    await assert.rejects(queued, (e: unknown) => e instanceof ConcurrencyLimitError && e.didWait);
    assert.equal(limiter.queued, 0);
    gate.resolve();
    await first;
    assert.equal(limiter.stats().rejected, 1);
  });

  test('a queued call whose signal aborts leaves the queue with HP_ERR_ABORTED', async () => {
    const limiter = new ConcurrencyLimiter({ algorithm: new FixedLimit(1), maxQueue: 4 });
    const gate = deferred();
    const first = limiter.execute(() => gate.promise);
    const controller = new AbortController();
    const queued = limiter.execute(async () => 'never', controller.signal);
    controller.abort();
    await assert.rejects(queued, { code: 'HP_ERR_ABORTED' });
    assert.equal(limiter.queued, 0);
    gate.resolve();
    await first;
  });

  test('tryAcquire takes a free slot without waiting; a permit releases once', () => {
    const algorithm = new FixedLimit(1);
    const limiter = new ConcurrencyLimiter({ algorithm });
    const permit = limiter.tryAcquire();
    assert.ok(permit !== undefined);
    assert.equal(limiter.tryAcquire(), undefined);
    permit.release();
    permit.release();
    assert.equal(limiter.inFlight, 0);
    assert.equal(algorithm.samples.length, 1);
    limiter.tryAcquire()!.release('ignore');
    assert.equal(algorithm.samples.length, 1);
  });

  test('follows the algorithm: a raised limit admits queued calls, and the change is published', async () => {
    const changes: ConcurrencyLimitChange[] = [];
    const listener = (m: unknown) => changes.push(m as ConcurrencyLimitChange);
    subscribe('hotpath:resilience:concurrency-limit', listener);
    try {
      const algorithm = new FixedLimit(1);
      const limiter = new ConcurrencyLimiter({
        algorithm,
        maxQueue: 5,
        queueTimeoutMs: 10_000,
        name: 'gateway',
      });
      const gates = [deferred(), deferred(), deferred()];
      const calls = gates.map((g) => limiter.execute(() => g.promise));
      assert.equal(limiter.queued, 2);
      algorithm.limit = 3;
      gates[0]!.resolve();
      await calls[0];
      assert.equal(limiter.inFlight, 2, 'both queued calls started');
      assert.deepEqual(changes, [{ name: 'gateway', from: 1, to: 3, inFlight: 0 }]);
      gates[1]!.resolve();
      gates[2]!.resolve();
      await Promise.all(calls);
    } finally {
      unsubscribe('hotpath:resilience:concurrency-limit', listener);
    }
  });

  test('close fails queued calls with HP_ERR_CLOSED and refuses new ones', async () => {
    const limiter = new ConcurrencyLimiter({ algorithm: new FixedLimit(1), maxQueue: 2 });
    const gate = deferred();
    const first = limiter.execute(() => gate.promise);
    const queued = limiter.execute(async () => 1);
    await limiter.close();
    await assert.rejects(queued, { code: 'HP_ERR_CLOSED' });
    await assert.rejects(
      limiter.execute(async () => 1),
      { code: 'HP_ERR_CLOSED' },
    );
    gate.resolve();
    await first;
  });

  test('bad options throw HP_ERR_INVALID_OPTION naming the option', () => {
    for (const [options, name] of [
      [{ algorithm: {} }, 'algorithm'],
      [{ maxQueue: -1 }, 'maxQueue'],
      [{ queueTimeoutMs: -5 }, 'queueTimeoutMs'],
      [{ isDrop: 'yes' }, 'isDrop'],
    ] as const) {
      assert.throws(
        () => new ConcurrencyLimiter(options as never),
        (e: unknown) =>
          (e as { code: string }).code === 'HP_ERR_INVALID_OPTION' &&
          (e as Error).message.includes(name),
      );
    }
  });
});
