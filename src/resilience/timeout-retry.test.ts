import assert from 'node:assert/strict';
import { describe, mock, test } from 'node:test';
import { retry, TimeoutError, withTimeout } from './index.js';

describe('withTimeout', () => {
  test('rejects with TimeoutError and aborts the signal when time runs out', async () => {
    mock.timers.enable({ apis: ['setTimeout'] });
    try {
      let seen: AbortSignal | undefined;
      const pending = withTimeout((signal) => {
        seen = signal;
        return new Promise(() => {});
      }, 100);
      mock.timers.tick(100);
      await assert.rejects(
        pending,
        (e: unknown) => e instanceof TimeoutError && e.code === 'HP_ERR_TIMEOUT',
      );
      assert.equal(seen?.aborted, true);
    } finally {
      mock.timers.reset();
    }
  });

  test('resolves with the value when in time', async () => {
    assert.equal(await withTimeout(async () => 7, 1000), 7);
  });

  test('rejects with AbortedError when the caller aborts first', async () => {
    const controller = new AbortController();
    const pending = withTimeout(() => new Promise(() => {}), 10_000, controller.signal);
    controller.abort();
    await assert.rejects(pending, { code: 'HP_ERR_ABORTED' });
  });
});

describe('retry', () => {
  test('retries until success with exponential backoff and full jitter', async () => {
    const delays: number[] = [];
    let calls = 0;
    const value = await retry(
      async () => {
        if (++calls < 3) throw new Error('transient');
        return 'done';
      },
      { retries: 5, baseMs: 10, random: () => 0.5, onRetry: (_e, _a, d) => delays.push(d) },
    );
    assert.equal(value, 'done');
    assert.equal(calls, 3);
    assert.deepEqual(delays, [5, 10]);
  });

  test('rethrows the last error after retries + 1 attempts', async () => {
    let calls = 0;
    await assert.rejects(
      retry(
        async () => {
          calls++;
          throw new Error(`fail ${calls}`);
        },
        { retries: 2, baseMs: 0 },
      ),
      /fail 3/,
    );
    assert.equal(calls, 3);
  });

  test('stops at once when shouldRetry refuses', async () => {
    let calls = 0;
    await assert.rejects(
      retry(
        async () => {
          calls++;
          throw new Error('permanent');
        },
        { retries: 5, baseMs: 0, shouldRetry: () => false },
      ),
      /permanent/,
    );
    assert.equal(calls, 1);
  });

  test('caps the wait at maxMs', async () => {
    const delays: number[] = [];
    await assert.rejects(
      retry(
        async () => {
          throw new Error('x');
        },
        { retries: 3, baseMs: 1, maxMs: 2, jitter: 'none', onRetry: (_e, _a, d) => delays.push(d) },
      ),
    );
    assert.deepEqual(delays, [1, 2, 2]);
  });
});
