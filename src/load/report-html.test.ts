import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { renderHtmlReport } from './report-html.js';
import type { LoadResult, NamedResult } from './result.js';
import { latencyHistogram, summarize } from './stats.js';

function named(values: number[], statuses: Record<string, number>, failed: number): NamedResult {
  const h = latencyHistogram();
  for (const v of values) h.record(v);
  return {
    sent: values.length,
    completed: values.length,
    requestsPerSecond: values.length / 10,
    statuses,
    errors: { connect: 0, timeout: 2, reset: 0 },
    checks: { checked: values.length, failed, failures: failed > 0 ? { '$.status': failed } : {} },
    latency: summarize(h),
  };
}

function result(byName: Record<string, NamedResult>): LoadResult {
  const h = latencyHistogram();
  h.record(1000);
  const latency = summarize(h);
  return {
    v: 1,
    url: 'http://127.0.0.1:1/',
    model: 'open',
    connections: 10,
    pipelining: 1,
    rate: 100,
    workers: 1,
    startedAt: '2026-01-01T00:00:00.000Z',
    durationMs: 10_000,
    sent: 1,
    completed: 1,
    requestsPerSecond: 0.1,
    bytesRead: 0,
    bytesWritten: 0,
    statuses: { '200': 1 },
    errors: { connect: 0, timeout: 0, reset: 0 },
    latency,
    actualLatency: latency,
    coordinatedOmission: null,
    timeline: [],
    generator: {
      eventLoopUtilization: 0.1,
      cpuSeconds: 0.1,
      lateSends: 0,
      sendLagP99: 0,
      waitedForConnection: 0,
      isBottleneck: false,
      warnings: [],
    },
    isInterrupted: false,
    unfinished: 0,
    byName,
    checks: { checked: 40, failed: 3, failures: { '$.status': 3 } },
  };
}

describe('HTML report by request name', () => {
  test('has one row per name with its requests, p99, errors and failed checks, names escaped', () => {
    const html = renderHtmlReport(
      result({
        create: named(Array<number>(30).fill(250_000), { '201': 30 }, 3),
        'GET /a?<b>': named(Array<number>(10).fill(2000), { '200': 9, '503': 1 }, 0),
      }),
    );
    const table = /<table id="by-name">(.*?)<\/table>/s.exec(html)?.[1] ?? '';
    const rows = [...table.matchAll(/<tr>(.*?)<\/tr>/gs)].map((m) =>
      [...m[1]!.matchAll(/<t[dh]>(.*?)<\/t[dh]>/gs)].map((c) => c[1]!.replace(/<[^>]+>/g, '')),
    );
    assert.deepEqual(rows[0], [
      'name',
      'requests',
      'req/s',
      'p50',
      'p90',
      'p99',
      'p99.9',
      'max',
      'errors',
      'non-2xx',
      'checks failed',
    ]);
    assert.equal(rows[1]![0], 'create');
    assert.equal(rows[1]![1], '30');
    assert.match(rows[1]![5]!, /^25\d\.\d ms$/);
    assert.equal(rows[1]![8], '2');
    assert.equal(rows[1]![10], '3 of 30 ($.status: 3)');
    assert.equal(rows[2]![0], 'GET /a?&#60;b&#62;');
    assert.equal(rows[2]![9], '1');
    assert.equal(rows[2]![10], '0 of 10');
    assert.match(html, /<td>checks<\/td><td>40 checked, 3 failed \(7\.50%\)<\/td>/);
  });

  test('a result from before names existed has no per-name table', () => {
    const old = result({});
    delete old.byName;
    delete old.checks;
    assert.doesNotMatch(renderHtmlReport(old), /By request name|<td>checks<\/td>/);
  });
});
