import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { Histogram } from '../metrics/index.js';
import { load } from './load.js';
import { LoadMergeError } from './errors.js';
import { mergeResults } from './merge.js';
import { PERCENTILES, type LoadResult } from './result.js';
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

describe('merging the JSON results of two runs', () => {
  // Latencies spread over a few milliseconds, so the percentiles fall in different buckets.
  const server = createServer((req, res) => {
    req.resume();
    const delayMs = req.url!.startsWith('/slow') ? 1 + Math.floor(Math.random() * 4) : 0;
    setTimeout(() => res.end('ok'), delayMs);
  });
  let url = '';
  before(async () => {
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  after(() => {
    server.closeAllConnections();
    server.close();
  });

  test("gives the percentiles of one histogram fed both runs' samples, overall and per name", async () => {
    const mix = {
      requests: [
        { name: 'fast', path: '/fast' },
        { name: 'slow', path: '/slow' },
      ],
    };
    const single = latencyHistogram();
    const perName = new Map([
      ['fast', latencyHistogram()],
      ['slow', latencyHistogram()],
    ]);
    const runs: LoadResult[] = [];
    for (const seed of [1, 2]) {
      const r = await load(
        { url, mix, requests: 600, connections: 4, seed },
        {
          onResponse: ({ name, latencyUs }) => {
            single.record(latencyUs!);
            perName.get(name!)!.record(latencyUs!);
          },
        },
      );
      // As files written by --json on two machines.
      runs.push(JSON.parse(JSON.stringify(r)) as LoadResult);
    }
    const merged = mergeResults(runs);
    assert.equal(merged.latency.count, 1200);
    assert.deepEqual(merged.latency.histogram, single.snapshot());
    for (const p of PERCENTILES)
      assert.equal(merged.latency.percentiles[String(p)], Math.round(single.percentile(p)));
    for (const [name, h] of perName) {
      const m = merged.byName![name]!;
      assert.equal(m.latency.count, h.count);
      assert.equal(m.completed, h.count);
      assert.deepEqual(m.latency.histogram, h.snapshot());
      for (const p of PERCENTILES)
        assert.equal(
          m.latency.percentiles[String(p)],
          Math.round(h.percentile(p)),
          `${name} p${p}`,
        );
    }
    assert.equal(
      merged.byName!.slow!.sent,
      runs[0]!.byName!.slow!.sent + runs[1]!.byName!.slow!.sent,
    );
  });
});

describe('mergeResults refuses results it cannot merge exactly', () => {
  const base = () => JSON.parse(JSON.stringify(fakeResult([100, 200, 300]))) as LoadResult;
  const isMismatch = (part: number) => (e: unknown) =>
    e instanceof LoadMergeError && e.code === 'HP_ERR_LOAD_MERGE_MISMATCH' && e.part === part;

  test('histograms of another precision', () => {
    const other = base();
    other.latency.histogram.precision = 0.001;
    assert.throws(() => mergeResults([base(), base(), other]), isMismatch(2));
  });

  test('a per-name histogram of another range', () => {
    const a = base();
    const b = base();
    a.byName = { x: { ...namedOf(a) } };
    b.byName = {
      x: {
        ...namedOf(b),
        latency: { ...b.latency, histogram: { ...b.latency.histogram, highest: 60_000_000 } },
      },
    };
    assert.throws(
      () => mergeResults([a, b]),
      (e: unknown) => isMismatch(1)(e) && /byName\["x"\]/.test((e as Error).message),
    );
  });

  test('latencies in another unit', () => {
    const other = base() as unknown as { latencyUnit: string };
    other.latencyUnit = 'ms';
    assert.throws(() => mergeResults([base(), other as unknown as LoadResult]), isMismatch(1));
  });

  test('latencies from another origin (open model from the intended send, closed from the actual)', () => {
    const closed = fakeResult([100], { model: 'closed' });
    assert.throws(() => mergeResults([base(), closed]), isMismatch(1));
  });
});

describe('mergeResults timelines', () => {
  test('align parts on the wall clock by their start times', () => {
    const point = (second: number) => ({
      second,
      durationMs: 1000,
      requests: 10,
      errors: 0,
      non2xx: 0,
      bytesRead: 0,
      p50: 100,
      p99: 200,
      max: 300,
      targetRate: null,
    });
    const a = fakeResult([100], { timeline: [point(0), point(1), point(2)] });
    const b = fakeResult([100], {
      startedAt: '2026-01-01T00:00:02.000Z',
      timeline: [point(0), point(1)],
    });
    const merged = mergeResults([a, b]);
    assert.deepEqual(
      merged.timeline.map((p) => [p.second, p.requests]),
      [
        [0, 10],
        [1, 10],
        [2, 20],
        [3, 10],
      ],
    );
  });
});

function namedOf(r: LoadResult) {
  return {
    sent: r.sent,
    completed: r.completed,
    requestsPerSecond: r.requestsPerSecond,
    statuses: r.statuses,
    errors: r.errors,
    checks: { checked: 0, failed: 0, failures: {} },
    latency: r.latency,
  };
}
