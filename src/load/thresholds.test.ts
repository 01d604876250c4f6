import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { InvalidOptionError } from '../errors/index.js';
import type { LoadResult } from './result.js';
import { latencyHistogram, summarize } from './stats.js';
import { checkThresholds, parseThreshold, unknownThresholdNames } from './thresholds.js';
import { parseDuration } from './units.js';

function result(latenciesUs: number[], statuses: Record<string, number>, timeouts = 0): LoadResult {
  const h = latencyHistogram();
  for (const v of latenciesUs) h.record(v);
  const completed = Object.values(statuses).reduce((a, b) => a + b, 0);
  return {
    latency: summarize(h),
    statuses,
    completed,
    errors: { connect: 0, timeout: timeouts, reset: 0 },
    requestsPerSecond: 1234,
  } as LoadResult;
}

describe('thresholds', () => {
  test('parses latency, error-share, count and rate thresholds', () => {
    assert.deepEqual(parseThreshold('p99<250ms'), {
      text: 'p99<250ms',
      metric: 'p99',
      op: '<',
      value: 250_000,
      isShare: false,
    });
    assert.equal(parseThreshold('p99.9 <= 1.5s').value, 1_500_000);
    assert.equal(parseThreshold('mean<800us').value, 800);
    assert.deepEqual(
      { ...parseThreshold('errors<1%') },
      { text: 'errors<1%', metric: 'errors', op: '<', value: 0.01, isShare: true },
    );
    assert.equal(parseThreshold('non2xx<=10').isShare, false);
    assert.equal(parseThreshold('rps>=1000').value, 1000);
  });

  test('rejects unknown metrics, units and missing units', () => {
    for (const bad of [
      'p99<250',
      'p99<250parsecs',
      'latency<3ms',
      'p99=3ms',
      'errors<1ms',
      'p101<1s',
      'rps>5%',
    ]) {
      assert.throws(() => parseThreshold(bad), InvalidOptionError, bad);
    }
  });

  test('passes and breaches against a result', () => {
    // 98 fast responses, 2 slow 404s and 1 timeout.
    const r = result(
      [...Array<number>(98).fill(1000), 300_000, 300_000],
      { '200': 98, '404': 2 },
      1,
    );
    const outcomes = checkThresholds(
      r,
      ['p50<2ms', 'p99<250ms', 'errors<1%', 'errors<5%', 'non2xx<=2', 'rps>1000'].map(
        parseThreshold,
      ),
    );
    assert.deepEqual(
      outcomes.map((o) => [o.threshold.text, o.isPassed]),
      [
        ['p50<2ms', true],
        ['p99<250ms', false],
        ['errors<1%', false],
        ['errors<5%', true],
        ['non2xx<=2', true],
        ['rps>1000', true],
      ],
    );
    // 3 of 101 attempts failed or were not 2xx.
    assert.equal(outcomes[2]!.actual, 3 / 101);
    assert.match(outcomes[1]!.message, /BREACHED/);
  });
});

describe('thresholds by request name and on checks', () => {
  function named(
    latenciesUs: number[],
    statuses: Record<string, number>,
    checks: { checked: number; failed: number },
    resets = 0,
  ) {
    const r = result(latenciesUs, statuses, 0);
    return {
      sent: r.completed + resets,
      completed: r.completed,
      requestsPerSecond: r.completed / 10,
      statuses,
      errors: { connect: 0, timeout: 0, reset: resets },
      checks: { ...checks, failures: checks.failed > 0 ? { status: checks.failed } : {} },
      latency: r.latency,
    };
  }
  // "create": 100 responses, 90 fast 201s and 10 slow 500s that also fail their check, 1 reset.
  // "read": 100 fast 200s, no checks.
  const create = named(
    [...Array<number>(90).fill(10_000), ...Array<number>(10).fill(400_000)],
    { '201': 90, '500': 10 },
    { checked: 100, failed: 10 },
    1,
  );
  const read = named(Array<number>(100).fill(1000), { '200': 100 }, { checked: 0, failed: 0 });
  const whole = {
    ...result(
      [
        ...Array<number>(90).fill(10_000),
        ...Array<number>(10).fill(400_000),
        ...Array<number>(100).fill(1000),
      ],
      { '200': 100, '201': 90, '500': 10 },
    ),
    errors: { connect: 0, timeout: 0, reset: 1 },
    checks: { checked: 100, failed: 10, failures: { status: 10 } },
    byName: { create, 'GET /api/users/{{int 1 1000}}/summary': read },
  } as LoadResult;

  test('parses a {name=...} selector after any metric, braces and quotes included', () => {
    assert.deepEqual(parseThreshold('p99{name=create}<250ms'), {
      text: 'p99{name=create}<250ms',
      metric: 'p99',
      op: '<',
      value: 250_000,
      isShare: false,
      name: 'create',
    });
    assert.equal(parseThreshold('errors{name="create"}<1%').name, 'create');
    assert.equal(
      parseThreshold('p99{name=GET /api/users/{{int 1 1000}}/summary}<5ms').name,
      'GET /api/users/{{int 1 1000}}/summary',
    );
    const checks = parseThreshold('checks_failed{name=create}<1%');
    assert.deepEqual([checks.metric, checks.value, checks.isShare], ['checks_failed', 0.01, true]);
    assert.equal(parseThreshold('checks_failed<=3').isShare, false);
    assert.throws(() => parseThreshold('p99{name=}<5ms'), InvalidOptionError);
    assert.throws(() => parseThreshold('checks_failed<3ms'), InvalidOptionError);
  });

  test('a named threshold reads only the requests of that name', () => {
    const outcomes = checkThresholds(
      whole,
      [
        'p99{name=create}<250ms',
        'p50{name=create}<20ms',
        'p99{name=GET /api/users/{{int 1 1000}}/summary}<2ms',
        'errors{name=create}<5%',
        'errors{name=create}<20%',
        'non2xx{name=create}<=10',
        'rps{name=create}>=10',
        'p99<250ms',
      ].map(parseThreshold),
    );
    assert.deepEqual(
      outcomes.map((o) => [o.threshold.text, o.isPassed]),
      [
        ['p99{name=create}<250ms', false],
        ['p50{name=create}<20ms', true],
        ['p99{name=GET /api/users/{{int 1 1000}}/summary}<2ms', true],
        ['errors{name=create}<5%', false],
        ['errors{name=create}<20%', true],
        ['non2xx{name=create}<=10', true],
        ['rps{name=create}>=10', true],
        ['p99<250ms', false],
      ],
    );
    // 10 non-2xx and 1 reset of 101 attempts of "create".
    assert.equal(outcomes[3]!.actual, 11 / 101);
    assert.match(outcomes[0]!.message, /^p99\{name=create\} < /);
  });

  test('checks_failed is the share (or count) of checked responses that failed a check', () => {
    const [share, count, readShare] = checkThresholds(
      whole,
      [
        'checks_failed{name=create}<1%',
        'checks_failed<=10',
        'checks_failed{name=GET /api/users/{{int 1 1000}}/summary}<1%',
      ].map(parseThreshold),
    );
    assert.equal(share!.actual, 0.1);
    assert.equal(share!.isPassed, false);
    assert.equal(count!.actual, 10);
    assert.equal(count!.isPassed, true);
    // No checked responses: nothing failed.
    assert.equal(readShare!.actual, 0);
    assert.equal(readShare!.isPassed, true);
  });

  test('a threshold on a name the result does not hold is breached, listing the names', () => {
    const [o] = checkThresholds(whole, [parseThreshold('p99{name=craete}<250ms')]);
    assert.equal(o!.isPassed, false);
    assert.match(o!.message, /no requests named "craete" \(names: "create", /);
    assert.deepEqual(
      unknownThresholdNames(
        ['p99{name=craete}<1s', 'p99{name=create}<1s', 'p99<1s'].map(parseThreshold),
        ['create', 'read'],
      ),
      ['craete'],
    );
  });
});

describe('parseDuration', () => {
  test('reads units, bare seconds, and rejects unknown units', () => {
    assert.equal(parseDuration('d', '10s'), 10_000);
    assert.equal(parseDuration('d', '250ms'), 250);
    assert.equal(parseDuration('d', '1.5m'), 90_000);
    assert.equal(parseDuration('d', '30'), 30_000);
    assert.equal(parseDuration('d', '100us'), 0.1);
    assert.throws(() => parseDuration('d', '10 parsecs'), /unknown unit/);
    assert.throws(() => parseDuration('d', '-1s'), InvalidOptionError);
  });
});
