import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { afterEach, beforeEach, describe, mock, test } from 'node:test';
import {
  Bulkhead,
  CircuitBreaker,
  Retry,
  Timeout,
  wrap,
  type BulkheadOptions,
  type CircuitBreakerOptions,
  type CircuitStateChange,
  type Policy,
  type PolicyContext,
} from './index.js';

// wrap() runs a plain Bulkhead and CircuitBreaker (and a Retry and Timeout below them) on a
// fused path. A subclass that overrides execute is run through execute, nested: the same
// policies, the reference the fused path must match call for call.
class NestedBulkhead extends Bulkhead {
  override execute<T>(fn: (signal?: AbortSignal) => Promise<T>, signal?: AbortSignal): Promise<T> {
    return super.execute(fn, signal);
  }
}
class NestedBreaker extends CircuitBreaker {
  override execute<T>(fn: () => Promise<T>): Promise<T> {
    return super.execute(fn);
  }
}

const clock = { now: () => Date.now() };
const never = () => new Promise<never>(() => {});

async function flush(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
}

interface Setup {
  bulkhead?: BulkheadOptions;
  breaker?: CircuitBreakerOptions;
  retries?: number;
  timeoutMs?: number;
}

interface Built {
  policy: Policy;
  bulkhead: Bulkhead | undefined;
  breaker: CircuitBreaker | undefined;
  retry: Retry | undefined;
  timeout: Timeout | undefined;
  changes: string[];
}

/** The same policies, fused (plain classes) or nested (the subclasses above). */
function build(setup: Setup, fused: boolean): Built {
  const bulkhead =
    setup.bulkhead === undefined
      ? undefined
      : fused
        ? new Bulkhead(setup.bulkhead)
        : new NestedBulkhead(setup.bulkhead);
  const breakerOptions = { clock, ...setup.breaker };
  const breaker =
    setup.breaker === undefined
      ? undefined
      : fused
        ? new CircuitBreaker(breakerOptions)
        : new NestedBreaker(breakerOptions);
  const retry =
    setup.retries === undefined
      ? undefined
      : new Retry({ retries: setup.retries, baseMs: 10, jitter: 'none', clock });
  const timeout =
    setup.timeoutMs === undefined ? undefined : new Timeout({ timeoutMs: setup.timeoutMs, clock });
  const changes: string[] = [];
  breaker?.onStateChange((c: CircuitStateChange) => changes.push(`${c.from}->${c.to}`));
  const layers = [bulkhead, breaker, retry, timeout].filter((p) => p !== undefined);
  return { policy: wrap(...layers), bulkhead, breaker, retry, timeout, changes };
}

/** What a caller and a dashboard can see of a settled call and of the policies after it. */
async function outcome(pending: Promise<unknown>): Promise<string> {
  try {
    return `value ${String(await pending)}`;
  } catch (error) {
    const e = error as { code?: string; message?: string };
    return `error ${e.code ?? e.message}`;
  }
}

function state(b: Built) {
  return {
    running: b.bulkhead?.running,
    queued: b.bulkhead?.queued,
    breaker: b.breaker?.state,
    failureRate: b.breaker?.failureRate,
    slowCallRate: b.breaker?.slowCallRate,
    changes: [...b.changes],
    retry: b.retry?.stats,
    timeout: b.timeout?.stats,
  };
}

/** Runs `script` on the fused and the nested build and returns both transcripts. */
async function both(
  setup: Setup,
  script: (b: Built, log: (entry: unknown) => void) => Promise<void>,
): Promise<[unknown[], unknown[]]> {
  const transcripts: unknown[][] = [];
  for (const fused of [true, false]) {
    const b = build(setup, fused);
    const entries: unknown[] = [];
    await script(b, (entry) => entries.push(entry));
    entries.push(state(b));
    transcripts.push(entries);
  }
  return [transcripts[0]!, transcripts[1]!];
}

const fail = (message: string) => () => Promise.reject(new Error(message));

describe('wrap runs a fused bulkhead, breaker, retry and timeout exactly as nested ones', () => {
  test('the breaker opens after the same failures and then refuses with HP_ERR_CIRCUIT_OPEN', async () => {
    const [fused, nested] = await both(
      {
        bulkhead: { maxConcurrent: 2 },
        breaker: { windowSize: 4, minimumCalls: 4, failureRateThreshold: 0.5 },
      },
      async (b, log) => {
        const fns = [fail('a'), () => Promise.resolve(1), fail('b'), () => Promise.resolve(2)];
        for (const fn of [...fns, ...fns]) log(await outcome(b.policy.execute(fn)));
      },
    );
    assert.deepEqual(fused, nested);
    assert.equal(fused.filter((e) => e === 'error HP_ERR_CIRCUIT_OPEN').length, 4);
    assert.deepEqual((fused.at(-1) as { changes: string[] }).changes, ['closed->open']);
    assert.equal((fused.at(-1) as { running: number }).running, 0);
  });

  test('the bulkhead rejects with HP_ERR_BULKHEAD_FULL past its slots and queue, and queued calls run in order', async () => {
    const [fused, nested] = await both(
      { bulkhead: { maxConcurrent: 1, maxQueue: 1 }, breaker: {} },
      async (b, log) => {
        let release!: (v: string) => void;
        const first = b.policy.execute(() => new Promise<string>((r) => (release = r)));
        const second = b.policy.execute(() => Promise.resolve('second'));
        const third = b.policy.execute(() => Promise.resolve('third'));
        log(await outcome(third));
        log({ running: b.bulkhead!.running, queued: b.bulkhead!.queued });
        release('first');
        log(await outcome(first));
        log(await outcome(second));
      },
    );
    assert.deepEqual(fused, nested);
    assert.deepEqual(fused.slice(0, 4), [
      'error HP_ERR_BULKHEAD_FULL',
      { running: 1, queued: 1 },
      'value first',
      'value second',
    ]);
  });

  test('a call the open breaker refuses gives its bulkhead slot back', async () => {
    const [fused, nested] = await both(
      {
        bulkhead: { maxConcurrent: 1 },
        breaker: { windowSize: 1, minimumCalls: 1, openMs: 60_000 },
      },
      async (b, log) => {
        log(await outcome(b.policy.execute(fail('down'))));
        log(await outcome(b.policy.execute(() => Promise.resolve('refused'))));
        log(b.bulkhead!.running);
      },
    );
    assert.deepEqual(fused, nested);
    assert.deepEqual(fused.slice(0, 3), ['error down', 'error HP_ERR_CIRCUIT_OPEN', 0]);
  });

  test('retries count alike and the breaker records one outcome per call, after its retries', async () => {
    const [fused, nested] = await both(
      {
        bulkhead: { maxConcurrent: 4 },
        breaker: { windowSize: 4, minimumCalls: 1 },
        retries: 2,
        timeoutMs: 1000,
      },
      async (b, log) => {
        mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 0 });
        try {
          let calls = 0;
          const pending = b.policy.execute(async ({ attempt }: PolicyContext) => {
            calls++;
            if (attempt < 2) throw new Error(`transient ${attempt}`);
            return `attempt ${attempt}`;
          });
          for (let i = 0; i < 10; i++) {
            await flush();
            mock.timers.tick(10);
          }
          log(await outcome(pending));
          log(calls);
        } finally {
          mock.timers.reset();
        }
      },
    );
    assert.deepEqual(fused, nested);
    const last = fused.at(-1) as ReturnType<typeof state>;
    assert.equal(fused[0], 'value attempt 2');
    assert.equal(last.retry?.retries, 2);
    assert.equal(last.timeout?.calls, 3);
    assert.equal(last.failureRate, 0);
    assert.equal(last.running, 0);
  });

  describe('with mocked timers', () => {
    beforeEach(() => mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 0 }));
    afterEach(() => mock.timers.reset());

    test('the timeout fires on every attempt, the call fails with HP_ERR_TIMEOUT, and the events are published', async () => {
      const events: unknown[] = [];
      const onTimeout = (message: unknown) => events.push(message);
      subscribe('hotpath:resilience:timeout', onTimeout);
      try {
        const [fused, nested] = await both(
          {
            bulkhead: { maxConcurrent: 1 },
            breaker: { windowSize: 2, minimumCalls: 1 },
            retries: 1,
            timeoutMs: 100,
          },
          async (b, log) => {
            const pending = b.policy.execute(never);
            for (let i = 0; i < 30; i++) {
              mock.timers.tick(10);
              await flush();
            }
            log(await outcome(pending));
            log(await outcome(b.policy.execute(() => Promise.resolve('after'))));
          },
        );
        assert.deepEqual(fused, nested);
        assert.deepEqual(fused.slice(0, 2), ['error HP_ERR_TIMEOUT', 'error HP_ERR_CIRCUIT_OPEN']);
        const last = fused.at(-1) as ReturnType<typeof state>;
        assert.deepEqual(last.timeout, { calls: 2, timeouts: 2 });
        assert.deepEqual(last.changes, ['closed->open']);
        assert.equal(last.running, 0);
        assert.equal(events.length, 4, 'two timeouts in each build');
      } finally {
        unsubscribe('hotpath:resilience:timeout', onTimeout);
      }
    });

    test('a call slower than slowCallMs counts as slow and opens the breaker alike', async () => {
      const [fused, nested] = await both(
        {
          bulkhead: { maxConcurrent: 2 },
          breaker: { windowSize: 2, minimumCalls: 2, slowCallMs: 50, slowCallRateThreshold: 0.5 },
          retries: 0,
          timeoutMs: 1000,
        },
        async (b, log) => {
          log(await outcome(b.policy.execute(() => Promise.resolve('fast'))));
          const slow = b.policy.execute(
            () => new Promise<string>((resolve) => setTimeout(() => resolve('slow'), 60)),
          );
          mock.timers.tick(60);
          log(await outcome(slow));
          log(await outcome(b.policy.execute(() => Promise.resolve('refused'))));
        },
      );
      assert.deepEqual(fused, nested);
      assert.deepEqual(fused.slice(0, 3), [
        'value fast',
        'value slow',
        'error HP_ERR_CIRCUIT_OPEN',
      ]);
    });

    test('half-open lets one trial through and closes after it, alike', async () => {
      const [fused, nested] = await both(
        {
          bulkhead: { maxConcurrent: 2 },
          breaker: { windowSize: 1, minimumCalls: 1, openMs: 100 },
          retries: 0,
          timeoutMs: 1000,
        },
        async (b, log) => {
          log(await outcome(b.policy.execute(fail('down'))));
          mock.timers.tick(100);
          let release!: (v: string) => void;
          const trial = b.policy.execute(() => new Promise<string>((r) => (release = r)));
          log(await outcome(b.policy.execute(() => Promise.resolve('second trial'))));
          release('trial');
          log(await outcome(trial));
        },
      );
      assert.deepEqual(fused, nested);
      assert.deepEqual(fused.slice(0, 3), [
        'error down',
        'error HP_ERR_CIRCUIT_OPEN',
        'value trial',
      ]);
      assert.deepEqual((fused.at(-1) as { changes: string[] }).changes, [
        'closed->open',
        'open->half-open',
        'half-open->closed',
      ]);
    });

    test("aborting the caller's signal rejects with HP_ERR_ABORTED, counts as a failure and frees the slot", async () => {
      const [fused, nested] = await both(
        {
          bulkhead: { maxConcurrent: 1 },
          breaker: { windowSize: 2, minimumCalls: 2 },
          retries: 2,
          timeoutMs: 1000,
        },
        async (b, log) => {
          const controller = new AbortController();
          const pending = b.policy.execute(never, controller.signal);
          await flush();
          controller.abort();
          log(await outcome(pending));
          log(await outcome(b.policy.execute(() => Promise.resolve('next'), AbortSignal.abort())));
        },
      );
      assert.deepEqual(fused, nested);
      assert.deepEqual(fused.slice(0, 2), ['error HP_ERR_ABORTED', 'error HP_ERR_ABORTED']);
      const last = fused.at(-1) as ReturnType<typeof state>;
      assert.equal(last.failureRate, 1);
      assert.equal(last.running, 0);
    });
  });

  test('a breaker state listener that throws rejects the call with its error and frees the slot, alike', async () => {
    const [fused, nested] = await both(
      {
        bulkhead: { maxConcurrent: 1 },
        breaker: { windowSize: 1, minimumCalls: 1 },
        retries: 0,
        timeoutMs: 1000,
      },
      async (b, log) => {
        b.breaker!.onStateChange(() => {
          throw new Error('listener broke');
        });
        log(await outcome(b.policy.execute(fail('down'))));
        log(b.bulkhead!.running);
      },
    );
    assert.deepEqual(fused, nested);
    assert.deepEqual(fused.slice(0, 2), ['error listener broke', 0]);
  });

  test('a breaker alone and a bulkhead alone run fused as they do nested', async () => {
    for (const setup of [
      { breaker: { windowSize: 2, minimumCalls: 2 } },
      { bulkhead: { maxConcurrent: 1 } },
      { breaker: { windowSize: 2, minimumCalls: 2 }, retries: 0, timeoutMs: 1000 },
    ]) {
      const [fused, nested] = await both(setup, async (b, log) => {
        for (const fn of [fail('x'), fail('y'), () => Promise.resolve('z')])
          log(await outcome(b.policy.execute(fn)));
      });
      assert.deepEqual(fused, nested, JSON.stringify(setup));
    }
  });

  test("a retry and timeout fused inside an outer retry's later attempt number their own attempts from 0", async () => {
    const inner = new Retry({ retries: 2, baseMs: 0, jitter: 'none' });
    const outer = new Retry({ retries: 1, baseMs: 0, jitter: 'none' });
    const policy = wrap(outer, wrap(inner, new Timeout({ timeoutMs: 1000 })));
    const attempts: number[] = [];
    await assert.rejects(
      policy.execute(({ attempt }) => {
        attempts.push(attempt);
        return Promise.reject(new Error(`attempt ${attempt}`));
      }),
      { message: 'attempt 2' },
    );
    assert.deepEqual(attempts, [0, 1, 2, 0, 1, 2]);
    assert.equal(inner.stats.calls, 2);
    assert.equal(inner.stats.retries, 4);
    assert.equal(outer.stats.retries, 1);
  });
});
