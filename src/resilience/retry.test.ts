import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { afterEach, beforeEach, describe, mock, test } from 'node:test';
import {
  DeadlineExceededError,
  Retry,
  RetryBudget,
  Timeout,
  TimeoutError,
  retry,
  wrap,
  type RetryEvent,
} from './index.js';

// Mocked timers and a clock on the mocked Date: time moves only with mock.timers.tick().
const clock = { now: () => Date.now() };

/** Lets the microtasks run out, so every promise that can settle has. */
async function flush(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
}

async function state(promise: Promise<unknown>): Promise<'pending' | 'resolved' | 'rejected'> {
  let result: 'pending' | 'resolved' | 'rejected' = 'pending';
  promise.then(
    () => (result = 'resolved'),
    () => (result = 'rejected'),
  );
  await flush();
  return result;
}

const never = () => new Promise<never>(() => {});

describe('Retry', () => {
  beforeEach(() => mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 0 }));
  afterEach(() => mock.timers.reset());

  test("returns the first attempt's value without retrying", async () => {
    const policy = new Retry({ retries: 3 });
    assert.equal(await policy.execute(async ({ attempt }) => `attempt ${attempt}`), 'attempt 0');
    assert.deepEqual(policy.stats, {
      calls: 1,
      retries: 0,
      retriesExhausted: 0,
      budgetExhausted: 0,
      deadlineExceeded: 0,
    });
  });

  test('retries after a backoff, telling fn the attempt number', async () => {
    const seen: number[] = [];
    const policy = new Retry({ retries: 3, baseMs: 100, jitter: 'none' });
    const pending = policy.execute(async ({ attempt }) => {
      seen.push(attempt);
      if (attempt < 2) throw new Error(`fail ${attempt}`);
      return 'ok';
    });
    await flush();
    assert.deepEqual(seen, [0]);
    mock.timers.tick(100);
    await flush();
    assert.deepEqual(seen, [0, 1]);
    mock.timers.tick(200);
    assert.equal(await pending, 'ok');
    assert.deepEqual(seen, [0, 1, 2]);
    assert.equal(policy.stats.retries, 2);
  });

  test('counts calls that used up their retries', async () => {
    const policy = new Retry({ retries: 1, baseMs: 0 });
    const pending = policy.execute(() => Promise.reject(new Error('down')));
    await flush();
    mock.timers.tick(1);
    await assert.rejects(pending, /down/);
    assert.equal(policy.stats.retriesExhausted, 1);
  });

  describe('with a budget', () => {
    test('throws the last error at once when the budget refuses a retry, and counts it', async () => {
      const budget = new RetryBudget({ retryRatio: 0, minRetriesPerSecond: 0.1, clock });
      // Reserve: 0.1/s over 10 s = 1 retry in the window.
      const policy = new Retry({ retries: 5, baseMs: 10, jitter: 'none', budget });
      let attempts = 0;
      const failing = () => {
        attempts++;
        return Promise.reject(new Error(`fail ${attempts}`));
      };
      const first = policy.execute(failing);
      await flush();
      mock.timers.tick(10); // the one retry the budget grants
      await flush();
      assert.equal(attempts, 2);
      await assert.rejects(first, /fail 2/, 'refused at once after attempt 2');
      assert.equal(policy.stats.budgetExhausted, 1);
      assert.equal(budget.stats.refused, 1);
    });

    test('records each call once, not each attempt', async () => {
      const budget = new RetryBudget({ retryRatio: 0.5, minRetriesPerSecond: 0, clock });
      const policy = new Retry({ retries: 1, baseMs: 0, budget });
      for (let i = 0; i < 4; i++) await policy.execute(async () => i);
      assert.equal(budget.stats.calls, 4);
      assert.equal(budget.stats.available, 2);
    });
  });

  describe('with a deadline', () => {
    test('does not take a wait that would end past the deadline: fails at once instead', async () => {
      const policy = new Retry({ retries: 5, baseMs: 100, jitter: 'none', deadlineMs: 250, clock });
      let attempts = 0;
      const pending = policy.execute(() => {
        attempts++;
        return Promise.reject(new Error(`fail ${attempts}`));
      });
      await flush();
      mock.timers.tick(100); // attempt 2 at t = 100; the next wait (200 ms) would end at 300
      assert.equal(await state(pending), 'rejected');
      await assert.rejects(pending, (e: unknown) => {
        assert.ok(e instanceof DeadlineExceededError);
        assert.equal(e.code, 'HP_ERR_DEADLINE_EXCEEDED');
        assert.equal(e.deadlineMs, 250);
        assert.match(String((e.cause as Error).message), /fail 2/);
        return true;
      });
      assert.equal(attempts, 2);
      assert.equal(policy.stats.deadlineExceeded, 1);
    });

    test('starts no attempt after the deadline', async () => {
      const starts: number[] = [];
      const policy = new Retry({
        retries: 100,
        baseMs: 30,
        jitter: 'none',
        maxMs: 30,
        deadlineMs: 100,
        clock,
      });
      const pending = policy.execute(() => {
        starts.push(Date.now());
        return Promise.reject(new Error('x'));
      });
      await flush();
      for (let t = 0; t < 200; t += 10) {
        mock.timers.tick(10);
        await flush();
      }
      await assert.rejects(pending, DeadlineExceededError);
      assert.deepEqual(starts, [0, 30, 60, 90]);
      assert.ok(starts.every((t) => t < 100));
    });

    test('cuts the attempt running at the deadline and aborts its signal', async () => {
      const policy = new Retry({ retries: 2, deadlineMs: 300, clock });
      let signal: AbortSignal | undefined;
      const pending = policy.execute((context) => {
        signal = context.signal;
        return never();
      });
      mock.timers.tick(299);
      assert.equal(await state(pending), 'pending');
      assert.equal(signal?.aborted, false);
      mock.timers.tick(1);
      await assert.rejects(pending, DeadlineExceededError);
      assert.equal(signal?.aborted, true);
      assert.ok(signal?.reason instanceof DeadlineExceededError);
    });

    test("caps each attempt's timeout at the time left", async () => {
      const policy = wrap(
        new Retry({ retries: 5, baseMs: 10, jitter: 'none', deadlineMs: 250, clock }),
        new Timeout({ timeoutMs: 200, clock }),
      );
      const signals: AbortSignal[] = [];
      const pending = policy.execute((context) => {
        signals.push(context.signal!);
        return never();
      });
      mock.timers.tick(200); // attempt 0 times out; the retry waits 10 ms
      await flush();
      assert.equal(signals[0]?.reason instanceof TimeoutError, true);
      mock.timers.tick(10); // attempt 1 starts at 210; its timeout would end at 410
      await flush();
      assert.equal(signals.length, 2);
      mock.timers.tick(39);
      assert.equal(await state(pending), 'pending');
      mock.timers.tick(1); // t = 250
      await assert.rejects(pending, (e: unknown) => {
        assert.ok(e instanceof DeadlineExceededError);
        assert.ok(e.cause instanceof TimeoutError, "the cause is attempt 0's timeout");
        return true;
      });
      assert.equal(signals[1]?.aborted, true);
    });

    test('a call that succeeds in time leaves the deadline behind without effect', async () => {
      const policy = new Retry({ deadlineMs: 100, clock });
      assert.equal(await policy.execute(async () => 'fast'), 'fast');
      mock.timers.tick(1000);
      assert.equal(policy.stats.deadlineExceeded, 0);
    });
  });

  test('rejects with AbortedError when the caller aborts during a wait', async () => {
    const policy = new Retry({ retries: 3, baseMs: 1000, jitter: 'none' });
    const controller = new AbortController();
    let attempts = 0;
    const pending = policy.execute(() => {
      attempts++;
      return Promise.reject(new Error('x'));
    }, controller.signal);
    await flush();
    controller.abort();
    await assert.rejects(pending, { code: 'HP_ERR_ABORTED' });
    mock.timers.tick(10_000);
    assert.equal(attempts, 1);
  });

  test('publishes retries, budget refusals and deadlines on hotpath:resilience:retry', async () => {
    const events: RetryEvent[] = [];
    const listener = (message: unknown) => events.push(message as RetryEvent);
    subscribe('hotpath:resilience:retry', listener);
    try {
      const budget = new RetryBudget({ retryRatio: 0, minRetriesPerSecond: 0.1, clock });
      const policy = new Retry({ retries: 3, baseMs: 10, jitter: 'none', budget, name: 'gw' });
      const error = new Error('down');
      const pending = policy.execute(() => Promise.reject(error));
      await flush();
      mock.timers.tick(10);
      await assert.rejects(pending, /down/);
      assert.deepEqual(events, [
        { name: 'gw', type: 'retry', attempt: 1, delayMs: 10, error },
        { name: 'gw', type: 'budget-exhausted', attempt: 2, delayMs: 20, error },
      ]);
    } finally {
      unsubscribe('hotpath:resilience:retry', listener);
    }
  });

  test('checks its options', () => {
    assert.throws(() => new Retry({ retries: 1.5 }), {
      code: 'HP_ERR_INVALID_OPTION',
      option: 'retries',
    });
    assert.throws(() => new Retry({ deadlineMs: 0 }), { option: 'deadlineMs' });
    assert.throws(() => new Retry({ jitter: 'half' as 'full' }), { option: 'jitter' });
    assert.throws(() => new Retry({ budget: {} as RetryBudget }), { option: 'budget' });
  });

  test('retry() takes a budget and a deadline too', async () => {
    const pending = retry(() => never(), { deadlineMs: 50, clock });
    mock.timers.tick(50);
    await assert.rejects(pending, DeadlineExceededError);
    await assert.rejects(
      retry(async () => 1, { retries: -1 }),
      { option: 'retries' },
    );
  });
});
