import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { afterEach, beforeEach, describe, mock, test } from 'node:test';
import { Timeout, TimeoutError, type PolicyContext, type TimeoutEvent } from './index.js';

// Mocked timers and a clock on the mocked Date: time moves only with mock.timers.tick().
const clock = { now: () => Date.now() };

/** Settles to 'pending' unless `promise` settled by now (after the microtasks run out). */
async function state(promise: Promise<unknown>): Promise<'pending' | 'resolved' | 'rejected'> {
  let result: 'pending' | 'resolved' | 'rejected' = 'pending';
  promise.then(
    () => (result = 'resolved'),
    () => (result = 'rejected'),
  );
  for (let i = 0; i < 10; i++) await Promise.resolve();
  return result;
}

const never = () => new Promise<never>(() => {});

/** Timers that hold the process open (unref'd ones are not listed). */
const refedTimers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

describe('Timeout', () => {
  describe('with mocked timers', () => {
    beforeEach(() => mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 0 }));
    afterEach(() => mock.timers.reset());

    test('rejects with TimeoutError at timeoutMs when fn ignores its signal', async () => {
      const timeout = new Timeout({ timeoutMs: 1000, clock });
      const pending = timeout.execute(never);
      mock.timers.tick(999);
      assert.equal(await state(pending), 'pending');
      mock.timers.tick(1);
      await assert.rejects(pending, (e: unknown) => {
        assert.ok(e instanceof TimeoutError);
        assert.equal(e.code, 'HP_ERR_TIMEOUT');
        assert.equal(e.timeoutMs, 1000);
        return true;
      });
      assert.deepEqual(timeout.stats, { calls: 1, timeouts: 1 });
    });

    test('aborts the signal fn read at timeoutMs, with the TimeoutError as its reason', async () => {
      const timeout = new Timeout({ timeoutMs: 500, clock });
      let signal: AbortSignal | undefined;
      const pending = timeout.execute((context) => {
        signal = context.signal;
        return never();
      });
      assert.equal(signal?.aborted, false);
      mock.timers.tick(500);
      await assert.rejects(pending, TimeoutError);
      assert.equal(signal.aborted, true);
      assert.ok(signal.reason instanceof TimeoutError);
    });

    test('a signal read after the timeout is already aborted', async () => {
      const timeout = new Timeout({ timeoutMs: 100, clock });
      let context: PolicyContext | undefined;
      const pending = timeout.execute((c) => {
        context = c;
        return never();
      });
      mock.timers.tick(100);
      await assert.rejects(pending, TimeoutError);
      assert.equal(context?.signal?.aborted, true);
    });

    test('resolves with the value when fn settles in time', async () => {
      const timeout = new Timeout({ timeoutMs: 1000, clock });
      const pending = timeout.execute(
        () => new Promise<string>((resolve) => setTimeout(() => resolve('ok'), 999)),
      );
      mock.timers.tick(999);
      assert.equal(await pending, 'ok');
      mock.timers.tick(10_000);
      assert.deepEqual(timeout.stats, { calls: 1, timeouts: 0 });
    });

    test('passes on fn rejection as is', async () => {
      const timeout = new Timeout({ timeoutMs: 1000, clock });
      await assert.rejects(
        timeout.execute(() => Promise.reject(new Error('boom'))),
        /boom/,
      );
      await assert.rejects(
        timeout.execute(() => {
          throw new Error('sync');
        }),
        /sync/,
      );
    });

    test('calls in flight together each time out at their own deadline, in order', async () => {
      const timeout = new Timeout({ timeoutMs: 1000, clock });
      const first = timeout.execute(never); // t = 0, opens a stamping period
      mock.timers.tick(400);
      const second = timeout.execute(never); // t = 400, a new period: exact deadline
      mock.timers.tick(600);
      assert.equal(await state(first), 'rejected');
      assert.equal(await state(second), 'pending');
      mock.timers.tick(399);
      assert.equal(await state(second), 'pending');
      mock.timers.tick(1);
      assert.equal(await state(second), 'rejected');
      await assert.rejects(first, TimeoutError);
      await assert.rejects(second, TimeoutError);
    });

    test('never times out early: a call in an open stamping period is at most the resolution late', async () => {
      // Resolution is timeoutMs / 100 = 10 ms here. The first call reads the clock; the
      // second, 4 ms later in the same period, is stamped when the period closes (t = 10).
      const timeout = new Timeout({ timeoutMs: 1000, clock });
      const first = timeout.execute(never);
      mock.timers.tick(4);
      const second = timeout.execute(never);
      // Tick to the period's close on its own: a mocked tick moves Date to its end before it
      // runs the timers due within it.
      mock.timers.tick(6);
      mock.timers.tick(990);
      assert.equal(await state(first), 'rejected');
      mock.timers.tick(4); // t = 1004: the second's own deadline
      assert.equal(await state(second), 'pending');
      mock.timers.tick(6); // t = 1010: the period's close plus timeoutMs
      assert.equal(await state(second), 'rejected');
      await assert.rejects(first, TimeoutError);
      await assert.rejects(second, TimeoutError);
    });

    test("rejects with AbortedError at once when the caller aborts, and aborts fn's signal", async () => {
      const timeout = new Timeout({ timeoutMs: 1000, clock });
      const controller = new AbortController();
      let signal: AbortSignal | undefined;
      const pending = timeout.execute((context) => {
        signal = context.signal;
        return never();
      }, controller.signal);
      controller.abort(new Error('client went away'));
      await assert.rejects(pending, { code: 'HP_ERR_ABORTED' });
      assert.equal(signal?.aborted, true);
      mock.timers.tick(1000);
      assert.deepEqual(timeout.stats, { calls: 1, timeouts: 0 });
    });

    test("does not call fn when the caller's signal is already aborted", async () => {
      const timeout = new Timeout({ timeoutMs: 1000, clock });
      let calls = 0;
      await assert.rejects(
        timeout.execute(async () => calls++, AbortSignal.abort()),
        { code: 'HP_ERR_ABORTED' },
      );
      assert.equal(calls, 0);
    });

    test('publishes a timeout on hotpath:resilience:timeout', async () => {
      const events: TimeoutEvent[] = [];
      const listener = (message: unknown) => events.push(message as TimeoutEvent);
      subscribe('hotpath:resilience:timeout', listener);
      try {
        const timeout = new Timeout({ timeoutMs: 50, clock, name: 'gateway' });
        const pending = timeout.execute(never);
        mock.timers.tick(50);
        await assert.rejects(pending, TimeoutError);
        assert.deepEqual(events, [{ name: 'gateway', timeoutMs: 50, attempt: 0 }]);
      } finally {
        unsubscribe('hotpath:resilience:timeout', listener);
      }
    });
  });

  test('makes no AbortController unless fn reads context.signal', async () => {
    const Original = globalThis.AbortController;
    let made = 0;
    globalThis.AbortController = class extends Original {
      constructor() {
        super();
        made++;
      }
    };
    try {
      const timeout = new Timeout({ timeoutMs: 1000 });
      await timeout.execute(async () => 1);
      assert.equal(made, 0);
      await timeout.execute(async ({ signal }) => signal?.aborted);
      assert.equal(made, 1);
    } finally {
      globalThis.AbortController = Original;
    }
  });

  test('leaves no timer holding the process once its calls have settled', async () => {
    const before = refedTimers();
    const timeout = new Timeout({ timeoutMs: 60_000 });
    let during = 0;
    const value = await timeout.execute(async () => {
      during = refedTimers();
      return 'done';
    });
    assert.equal(value, 'done');
    assert.equal(during, before + 1);
    assert.equal(refedTimers(), before);
    await timeout.execute(async () => 'again');
    assert.equal(refedTimers(), before);
  });

  test('checks its options', () => {
    assert.throws(() => new Timeout({ timeoutMs: -1 }), {
      code: 'HP_ERR_INVALID_OPTION',
      option: 'timeoutMs',
    });
    assert.throws(() => new Timeout({} as { timeoutMs: number }), { option: 'timeoutMs' });
  });
});
