import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { formatByName, formatResult } from './format.js';
import type { LoadResult, NamedResult } from './result.js';
import { latencyHistogram, summarize } from './stats.js';

function named(valueUs: number, count: number, failed: number, checked = count): NamedResult {
  const h = latencyHistogram();
  for (let i = 0; i < count; i++) h.record(valueUs);
  return {
    sent: count,
    completed: count,
    requestsPerSecond: count / 10,
    statuses: { '200': count - 1, '503': 1 },
    errors: { connect: 0, timeout: 1, reset: 0 },
    checks: { checked, failed, failures: failed > 0 ? { status: failed } : {} },
    latency: summarize(h),
  };
}

describe('text table by request name', () => {
  test('lists each name with requests, rate, latency, errors, non-2xx and failed checks', () => {
    const text = formatByName({
      byName: { create: named(250_000, 40, 4), 'GET /read': named(1000, 100, 0, 0) },
    } as unknown as LoadResult);
    const lines = text.split('\n').map((l) => l.trim().split(/\s{2,}/));
    assert.deepEqual(lines[0], [
      'by name',
      'requests',
      'req/s',
      'p50',
      'p90',
      'p99',
      'max',
      'errors',
      'non-2xx',
      'checks failed',
    ]);
    assert.deepEqual(lines[1]!.slice(0, 3), ['create', '40', '4.0']);
    assert.deepEqual(lines[1]!.slice(-3), ['1', '1', '4/40']);
    assert.deepEqual(lines[2]!.slice(-4), ['1.00 ms', '1', '1', '-']);
  });

  test('is left out for a single name without checks, and for results without names', () => {
    assert.equal(
      formatByName({ byName: { 'GET /': named(1000, 5, 0, 0) } } as unknown as LoadResult),
      '',
    );
    assert.equal(formatByName({} as LoadResult), '');
  });

  test('the summary counts checks apart from errors', () => {
    const h = latencyHistogram();
    h.record(1000);
    const latency = summarize(h);
    const text = formatResult({
      url: 'http://127.0.0.1:1/',
      model: 'closed',
      connections: 1,
      pipelining: 1,
      workers: 1,
      durationMs: 1000,
      sent: 10,
      completed: 10,
      requestsPerSecond: 10,
      bytesRead: 0,
      bytesWritten: 0,
      statuses: { '200': 10 },
      errors: { connect: 0, timeout: 0, reset: 0 },
      latency,
      actualLatency: latency,
      coordinatedOmission: null,
      generator: { eventLoopUtilization: 0, cpuSeconds: 0, sendLagP99: 0, warnings: [] },
      checks: { checked: 10, failed: 2, failures: { '$.status': 2 } },
    } as unknown as LoadResult);
    assert.match(text, /^checks {5}10 checked, 2 failed \(20\.00%\): \$\.status 2$/m);
    assert.match(text, /^errors {5}connect 0, timeout 0, reset 0, non-2xx 0 /m);
  });
});
