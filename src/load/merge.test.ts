import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { Histogram } from '../metrics/index.js';
import { load } from './load.js';
import { mergeResults } from './merge.js';
import type { LoadResult } from './result.js';
import { latencyHistogram, summarize } from './stats.js';
import { seededRandom } from './request-mix.js';

function fakeResult(values: number[], extra: Partial<LoadResult> = {}): LoadResult {
  const h = latencyHistogram();
  for (const v of values) h.record(v);
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
    durationMs: 1000,
    sent: values.length,
    completed: values.length,
    requestsPerSecond: values.length,
    bytesRead: values.length * 100,
    bytesWritten: values.length * 50,
    statuses: { '200': values.length },
    errors: { connect: 1, timeout: 0, reset: 2 },
    latency,
    actualLatency: latency,
    coordinatedOmission: null,
    timeline: [],
    generator: {
      eventLoopUtilization: 0.2,
      cpuSeconds: 0.1,
      lateSends: 0,
      sendLagP99: 0,
      waitedForConnection: 0,
      isBottleneck: false,
      warnings: [],
    },
    isInterrupted: false,
    unfinished: 0,
    ...extra,
  };
}

describe('mergeResults', () => {
  test('merged percentiles equal those of one histogram fed every value', () => {
    const random = seededRandom(42);
    const parts = [0, 1, 2].map(() =>
      Array.from({ length: 5000 }, () => Math.floor(100 + random() * random() * 2_000_000)),
    );
    const single = latencyHistogram();
    for (const part of parts) for (const v of part) single.record(v);
    // Through JSON, as results travel between processes and machines.
    const merged = mergeResults(
      parts.map((p) => JSON.parse(JSON.stringify(fakeResult(p))) as LoadResult),
    );
    assert.deepEqual(merged.latency.histogram, single.snapshot());
    for (const p of [50, 90, 99, 99.9, 99.99]) {
      assert.equal(merged.latency.percentiles[String(p)], Math.round(single.percentile(p)));
    }
    assert.equal(merged.latency.max, single.max);
    assert.equal(merged.completed, 15_000);
    assert.deepEqual(merged.errors, { connect: 3, timeout: 0, reset: 6 });
    assert.deepEqual(merged.statuses, { '200': 15_000 });
    assert.equal(merged.rate, 300);
  });

  test('refuses something that is not a result', () => {
    assert.throws(() => mergeResults([]), /nothing to merge/);
    assert.throws(
      () => mergeResults([{ v: 2 } as unknown as LoadResult]),
      /not a hotpath load result/,
    );
  });
});

describe('load with worker threads', () => {
  const server = createServer((req, res) => {
    req.resume();
    res.end('ok');
  });
  let url = '';
  before(async () => {
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    url = `http://127.0.0.1:${(server.address() as { port: number }).port}/`;
  });
  after(() => {
    server.closeAllConnections();
    server.close();
  });

  test('two workers share the requests and merge their histograms exactly', async () => {
    const result = await load({ url, connections: 4, requests: 2000, workers: 2 });
    assert.equal(result.workers, 2);
    assert.equal(result.completed, 2000);
    assert.equal(result.sent, 2000);
    assert.deepEqual(result.statuses, { '200': 2000 });
    assert.equal(result.latency.count, 2000);
    // The histogram holds exactly the responses counted, bucket by bucket.
    const h = Histogram.fromSnapshot(result.latency.histogram);
    let inBuckets = 0;
    for (const b of h.buckets()) inBuckets += b.count;
    assert.equal(inBuckets, 2000);
    // The timeline, built from both workers' per-second histograms, adds up too.
    assert.equal(
      result.timeline.reduce((t, p) => t + p.requests, 0),
      2000,
    );
  });
});
