import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, mock, test } from 'node:test';
import {
  Bulkhead,
  CircuitBreaker,
  Retry,
  Timeout,
  TimeoutError,
  wrap,
  type PolicyLike,
} from './index.js';

const clock = { now: () => Date.now() };
const never = () => new Promise<never>(() => {});

async function flush(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
}

/** A third party's policy: `execute(fn)` that calls `fn()` with nothing, and logs. */
function logging(name: string, log: string[]): PolicyLike {
  return {
    async execute<T>(fn: () => Promise<T>): Promise<T> {
      log.push(`${name} in`);
      try {
        return await fn();
      } finally {
        log.push(`${name} out`);
      }
    },
  };
}

/** Fails `failures` times, then resolves. */
function flaky(failures: number) {
  let calls = 0;
  return async () => {
    if (calls++ < failures) throw new Error(`transient ${calls}`);
    return 'ok';
  };
}

describe('wrap', () => {
  test('runs the policies outermost first', async () => {
    const log: string[] = [];
    const policy = wrap(logging('a', log), logging('b', log), logging('c', log));
    await policy.execute(async () => log.push('fn'));
    assert.deepEqual(log, ['a in', 'b in', 'c in', 'fn', 'c out', 'b out', 'a out']);
  });

  test('wraps nest: wrap(wrap(a, b), c) is wrap(a, b, c)', async () => {
    const log: string[] = [];
    const policy = wrap(wrap(logging('a', log), logging('b', log)), logging('c', log));
    await policy.execute(async () => log.push('fn'));
    assert.deepEqual(log, ['a in', 'b in', 'c in', 'fn', 'c out', 'b out', 'a out']);
  });

  test('refuses what is not a policy, naming its place', () => {
    assert.throws(() => wrap(new Bulkhead({ maxConcurrent: 1 }), {} as PolicyLike), {
      code: 'HP_ERR_INVALID_OPTION',
      option: 'policies[1]',
    });
  });

  test('with no policy it just runs fn', async () => {
    assert.equal(await wrap().execute(async ({ attempt }) => attempt), 0);
  });

  test('a breaker outside the retry records one outcome per call, after its retries', async () => {
    const breaker = new CircuitBreaker({ windowSize: 10, minimumCalls: 10 });
    const policy = wrap(breaker, new Retry({ retries: 2, baseMs: 0 }));
    assert.equal(await policy.execute(flaky(2)), 'ok');
    assert.equal(breaker.failureRate, 0, 'one call, one success: the retries absorbed the flakes');
  });

  test('a breaker inside the retry records every attempt', async () => {
    const breaker = new CircuitBreaker({ windowSize: 10, minimumCalls: 10 });
    const policy = wrap(new Retry({ retries: 2, baseMs: 0 }), breaker);
    assert.equal(await policy.execute(flaky(2)), 'ok');
    assert.equal(breaker.failureRate, 2 / 3, 'three attempts, two failed');
  });

  test('a bulkhead outside the retry holds one slot for the whole call, retries included', async () => {
    const bulkhead = new Bulkhead({ maxConcurrent: 1 });
    const running: number[] = [];
    const policy = wrap(bulkhead, new Retry({ retries: 2, baseMs: 0 }));
    const fail = flaky(2);
    await policy.execute(() => {
      running.push(bulkhead.running);
      return fail();
    });
    assert.deepEqual(running, [1, 1, 1]);
    assert.equal(bulkhead.running, 0);
  });

  test('a synchronous throw in fn is a rejection, retried like one', async () => {
    let calls = 0;
    const policy = wrap(new Bulkhead({ maxConcurrent: 1 }), new Retry({ retries: 1, baseMs: 0 }));
    const value = await policy.execute(() => {
      if (calls++ === 0) throw new Error('sync');
      return Promise.resolve('second');
    });
    assert.equal(value, 'second');
  });

  describe('with mocked timers', () => {
    beforeEach(() => mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 0 }));
    afterEach(() => mock.timers.reset());

    test("the caller's signal reaches fn through every layer, and aborting it stops the call", async () => {
      const policy = wrap(
        new Bulkhead({ maxConcurrent: 4 }),
        new CircuitBreaker(),
        new Retry({ retries: 2, clock }),
        new Timeout({ timeoutMs: 1000, clock }),
      );
      const controller = new AbortController();
      let signal: AbortSignal | undefined;
      const pending = policy.execute((context) => {
        signal = context.signal;
        return never();
      }, controller.signal);
      await flush();
      assert.equal(signal?.aborted, false);
      controller.abort(new Error('client gone'));
      await assert.rejects(pending, { code: 'HP_ERR_ABORTED' });
      assert.equal(signal?.aborted, true);
    });

    test('a timeout inside the retry cuts each attempt; the next attempt gets a fresh signal', async () => {
      const policy = wrap(
        new Retry({ retries: 1, baseMs: 10, jitter: 'none', clock }),
        new Timeout({ timeoutMs: 100, clock }),
      );
      const seen: { attempt: number; signal: AbortSignal }[] = [];
      const pending = policy.execute(({ attempt, signal }) => {
        seen.push({ attempt, signal: signal! });
        return attempt === 0 ? never() : Promise.resolve('second try');
      });
      mock.timers.tick(100);
      await flush();
      assert.ok(seen[0]!.signal.reason instanceof TimeoutError);
      mock.timers.tick(10);
      assert.equal(await pending, 'second try');
      assert.deepEqual(
        seen.map((s) => [s.attempt, s.signal.aborted]),
        [
          [0, true],
          [1, false],
        ],
      );
    });

    test('a retry right around a timeout retries errors and timeouts alike, and both count', async () => {
      const retry = new Retry({ retries: 3, baseMs: 10, jitter: 'none', clock });
      const timeout = new Timeout({ timeoutMs: 100, clock });
      const policy = wrap(retry, timeout);
      const pending = policy.execute(({ attempt }) => {
        if (attempt === 0) return Promise.reject(new Error('refused'));
        if (attempt === 1) return never();
        return Promise.resolve(`attempt ${attempt}`);
      });
      await flush();
      mock.timers.tick(10); // attempt 1 starts and hangs
      await flush();
      mock.timers.tick(100); // ... and times out; the retry waits 20 ms
      await flush();
      mock.timers.tick(20);
      assert.equal(await pending, 'attempt 2');
      assert.deepEqual(retry.stats, {
        calls: 1,
        retries: 2,
        retriesExhausted: 0,
        budgetExhausted: 0,
        deadlineExceeded: 0,
      });
      assert.deepEqual(timeout.stats, { calls: 3, timeouts: 1 });
    });

    test('a retry right around a timeout gives up with the last error', async () => {
      const policy = wrap(
        new Retry({ retries: 1, baseMs: 10, jitter: 'none', clock }),
        new Timeout({ timeoutMs: 100, clock }),
      );
      const pending = policy.execute(never);
      mock.timers.tick(100);
      await flush();
      mock.timers.tick(10);
      await flush();
      mock.timers.tick(100);
      await assert.rejects(pending, TimeoutError);
    });

    test("aborting the caller's signal stops a retry around a timeout at once, with no retry", async () => {
      let attempts = 0;
      const policy = wrap(
        new Retry({ retries: 3, baseMs: 0, clock }),
        new Timeout({ timeoutMs: 1000, clock }),
      );
      const controller = new AbortController();
      const pending = policy.execute(() => {
        attempts++;
        return never();
      }, controller.signal);
      controller.abort();
      await assert.rejects(pending, { code: 'HP_ERR_ABORTED' });
      mock.timers.tick(5000);
      await flush();
      assert.equal(attempts, 1);
    });

    test('a timeout outside the retry bounds the whole call and stops the retrying', async () => {
      let attempts = 0;
      const policy = wrap(
        new Timeout({ timeoutMs: 100, clock }),
        new Retry({ retries: 10, baseMs: 40, jitter: 'none', maxMs: 40, clock }),
      );
      const pending = policy.execute(() => {
        attempts++;
        return Promise.reject(new Error('x'));
      });
      for (let t = 0; t < 500; t += 10) {
        mock.timers.tick(10);
        await flush();
      }
      await assert.rejects(pending, TimeoutError);
      assert.equal(attempts, 3, 'attempts at 0, 40, 80; none after the timeout at 100');
    });
  });

  test('leaves no timer holding the process after a successful composed call', async () => {
    const refed = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = refed();
    const policy = wrap(
      new Bulkhead({ maxConcurrent: 4 }),
      new CircuitBreaker(),
      new Retry({ retries: 2, deadlineMs: 60_000 }),
      new Timeout({ timeoutMs: 30_000 }),
    );
    assert.equal(await policy.execute(async ({ signal }) => signal?.aborted), false);
    assert.equal(refed(), before);
  });
});
