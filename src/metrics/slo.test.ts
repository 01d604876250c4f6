import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseSloRule, RequestMetrics, SloMonitor, SloParseError, type SloEvent } from './index.js';

describe('parseSloRule', () => {
  test('reads percentiles, error rates and windows', () => {
    assert.deepEqual(parseSloRule('p99 < 200ms over 1m'), {
      expression: 'p99 < 200ms over 1m',
      subject: { kind: 'percentile', p: 99 },
      op: '<',
      threshold: 200,
      windowMs: 60_000,
    });
    const errors = parseSloRule('error_rate < 1% over 5m');
    assert.equal(errors.threshold, 0.01);
    assert.equal(errors.windowMs, 300_000);
    assert.equal(parseSloRule('p99.9 <= 1.5s over 30s').threshold, 1500);
    assert.equal(parseSloRule('mean < 500us').threshold, 0.5);
    assert.equal(parseSloRule('rate >= 10rps over 10s').subject.kind, 'rate');
  });

  test('rejects what it cannot read, naming the expression', () => {
    for (const bad of [
      'p99 < 200',
      'p101 < 1ms',
      'latency < 1ms',
      'error_rate < 1ms',
      'p99 ~ 1ms',
    ]) {
      assert.throws(
        () => parseSloRule(bad),
        (error: unknown) => {
          assert.ok(error instanceof SloParseError);
          assert.equal(error.code, 'HP_ERR_METRICS_SLO_PARSE');
          assert.equal(error.expression, bad);
          return true;
        },
      );
    }
  });
});

describe('SloMonitor', () => {
  test('emits breach once when a rule stops holding and recovery when it holds again', async () => {
    let now = 0;
    const clock = { now: () => now };
    const requests = new RequestMetrics({ historyMs: 10_000, clock, slowMs: Infinity });
    const slo = new SloMonitor({
      requests,
      rules: ['p99 < 100ms over 2s', 'error_rate < 10% over 2s'],
      intervalMs: 0,
      clock,
    });
    const events: SloEvent[] = [];
    slo.on('breach', (e) => events.push(e));
    slo.on('recovery', (e) => events.push(e));

    assert.deepEqual(
      slo.evaluate().map((s) => s.ok),
      [true, true],
    );
    for (let i = 0; i < 100; i++) requests.observe('GET', '/a', 200, i < 95 ? 10 : 300);
    slo.evaluate();
    slo.evaluate();
    assert.deepEqual(
      events.map((e) => [e.type, e.rule.expression]),
      [['breach', 'p99 < 100ms over 2s']],
    );
    assert.ok(Math.abs(events[0]!.value - 300) / 300 < 0.01);
    assert.equal(events[0]!.threshold, 100);

    for (let i = 0; i < 100; i++) requests.observe('GET', '/a', 500, 10);
    slo.evaluate();
    assert.equal(events.at(-1)!.rule.expression, 'error_rate < 10% over 2s');

    // Two slots later the bad requests have left the 2 s window.
    now += 1000;
    requests.rotate();
    now += 1000;
    requests.rotate();
    for (let i = 0; i < 100; i++) requests.observe('GET', '/a', 200, 10);
    const status = slo.evaluate();
    assert.deepEqual(
      status.map((s) => s.ok),
      [true, true],
    );
    assert.deepEqual(
      events.map((e) => e.type),
      ['breach', 'breach', 'recovery', 'recovery'],
    );
    assert.equal(status[0]!.since, 2000);
    await slo.close();
    await requests.close();
  });

  test('refuses a window longer than the request history', async () => {
    const requests = new RequestMetrics({ historyMs: 10_000 });
    assert.throws(() => new SloMonitor({ requests, rules: ['p99 < 1s over 1m'] }), {
      code: 'HP_ERR_INVALID_OPTION',
      option: 'rules',
    });
    await requests.close();
  });
});
