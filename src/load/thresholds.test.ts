import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { InvalidOptionError } from '../errors/index.js';
import type { LoadResult } from './result.js';
import { latencyHistogram, summarize } from './stats.js';
import { checkThresholds, parseThreshold } from './thresholds.js';
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
