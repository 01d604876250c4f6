import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { describe, test } from 'node:test';
import { CircuitBreaker, CircuitOpenError, type CircuitStateChange } from './index.js';

function manualClock() {
  let t = 0;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

const ok = () => Promise.resolve('ok');
const boom = () => Promise.reject(new Error('boom'));

describe('CircuitBreaker', () => {
  test('stays closed below the minimum number of calls', async () => {
    const breaker = new CircuitBreaker({ windowSize: 10, minimumCalls: 5 });
    for (let i = 0; i < 4; i++) await assert.rejects(breaker.execute(boom), /boom/);
    assert.equal(breaker.state, 'closed');
  });

  test('opens when the failure rate of the window reaches the threshold', async () => {
    const breaker = new CircuitBreaker({
      windowSize: 10,
      minimumCalls: 10,
      failureRateThreshold: 0.5,
    });
    for (let i = 0; i < 5; i++) await breaker.execute(ok);
    for (let i = 0; i < 4; i++) await assert.rejects(breaker.execute(boom));
    assert.equal(breaker.state, 'closed');
    await assert.rejects(breaker.execute(boom));
    assert.equal(breaker.state, 'open');
    await assert.rejects(
      breaker.execute(ok),
      (e: unknown) => e instanceof CircuitOpenError && e.code === 'HP_ERR_CIRCUIT_OPEN',
    );
  });

  test('forgets outcomes older than the window', async () => {
    const breaker = new CircuitBreaker({
      windowSize: 4,
      minimumCalls: 4,
      failureRateThreshold: 0.75,
    });
    for (let i = 0; i < 2; i++) await assert.rejects(breaker.execute(boom));
    for (let i = 0; i < 4; i++) await breaker.execute(ok);
    assert.equal(breaker.failureRate, 0);
    for (let i = 0; i < 2; i++) await assert.rejects(breaker.execute(boom));
    assert.equal(breaker.state, 'closed');
  });

  test('opens on slow calls even when they succeed', async () => {
    const clock = manualClock();
    const breaker = new CircuitBreaker({
      windowSize: 4,
      minimumCalls: 4,
      slowCallMs: 100,
      slowCallRateThreshold: 0.5,
      clock,
    });
    const slow = async () => {
      clock.advance(150);
      return 'late';
    };
    await breaker.execute(ok);
    await breaker.execute(ok);
    await breaker.execute(slow);
    assert.equal(breaker.state, 'closed');
    await breaker.execute(slow);
    assert.equal(breaker.state, 'open');
  });

  test('half-opens after openMs, closes when the trial succeeds', async () => {
    const clock = manualClock();
    const breaker = new CircuitBreaker({ windowSize: 2, minimumCalls: 2, openMs: 1000, clock });
    await assert.rejects(breaker.execute(boom));
    await assert.rejects(breaker.execute(boom));
    assert.equal(breaker.state, 'open');
    clock.advance(999);
    assert.equal(breaker.state, 'open');
    clock.advance(1);
    assert.equal(breaker.state, 'half-open');
    assert.equal(await breaker.execute(ok), 'ok');
    assert.equal(breaker.state, 'closed');
    assert.equal(breaker.failureRate, 0);
  });

  test('a failed trial opens the circuit again for a full openMs', async () => {
    const clock = manualClock();
    const breaker = new CircuitBreaker({ windowSize: 2, minimumCalls: 2, openMs: 1000, clock });
    await assert.rejects(breaker.execute(boom));
    await assert.rejects(breaker.execute(boom));
    clock.advance(1000);
    await assert.rejects(breaker.execute(boom), /boom/);
    assert.equal(breaker.state, 'open');
    clock.advance(500);
    assert.equal(breaker.state, 'open');
  });

  test('half-open lets only halfOpenCalls trials through at once', async () => {
    const clock = manualClock();
    const breaker = new CircuitBreaker({
      windowSize: 1,
      minimumCalls: 1,
      openMs: 10,
      halfOpenCalls: 1,
      clock,
    });
    await assert.rejects(breaker.execute(boom));
    clock.advance(10);
    let release!: () => void;
    const trial = breaker.execute(() => new Promise<string>((r) => (release = () => r('ok'))));
    await assert.rejects(breaker.execute(ok), CircuitOpenError);
    release();
    assert.equal(await trial, 'ok');
    assert.equal(breaker.state, 'closed');
  });

  test('errors that isFailure rejects do not count', async () => {
    const breaker = new CircuitBreaker({
      windowSize: 2,
      minimumCalls: 2,
      isFailure: (e) => (e as Error).message !== 'not found',
    });
    for (let i = 0; i < 4; i++)
      await assert.rejects(breaker.execute(() => Promise.reject(new Error('not found'))));
    assert.equal(breaker.state, 'closed');
  });

  test('publishes state changes to listeners and the diagnostics channel', async () => {
    const breaker = new CircuitBreaker({ windowSize: 1, minimumCalls: 1, name: 'gateway' });
    const heard: CircuitStateChange[] = [];
    const published: CircuitStateChange[] = [];
    const onMessage = (message: unknown) => published.push(message as CircuitStateChange);
    subscribe('hotpath:resilience:breaker', onMessage);
    const stop = breaker.onStateChange((c) => heard.push(c));
    try {
      await assert.rejects(breaker.execute(boom));
    } finally {
      unsubscribe('hotpath:resilience:breaker', onMessage);
      stop();
    }
    assert.deepEqual(
      heard.map((c) => [c.name, c.from, c.to]),
      [['gateway', 'closed', 'open']],
    );
    assert.equal(published.length, 1);
  });

  test('rejects bad options naming the option', () => {
    assert.throws(() => new CircuitBreaker({ failureRateThreshold: 2 }), /failureRateThreshold/);
    assert.throws(() => new CircuitBreaker({ windowSize: 0 }), { code: 'HP_ERR_INVALID_OPTION' });
    assert.throws(() => new CircuitBreaker({ windowSize: 5, minimumCalls: 6 }), /minimumCalls/);
  });
});
