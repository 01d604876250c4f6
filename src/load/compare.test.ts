import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { compareResults } from './compare.js';
import { seededRandom } from './request-mix.js';
import type { LatencySummary, LoadResult, NamedResult, TimelinePoint } from './result.js';
import { latencyHistogram, summarize } from './stats.js';

/** A 30-second run whose latencies scale with `factor` and whose rate is `rps` +- noise. */
function run(seed: number, factor: number, rps: number): LoadResult {
  const random = seededRandom(seed);
  const all = latencyHistogram();
  const timeline: TimelinePoint[] = [];
  for (let second = 0; second < 30; second++) {
    const h = latencyHistogram();
    const n = Math.round(rps * (0.95 + random() * 0.1));
    for (let i = 0; i < n; i++) {
      const v = factor * (1000 + 4000 * random() ** 4);
      h.record(v);
      all.record(v);
    }
    timeline.push({
      second,
      durationMs: 1000,
      requests: n,
      errors: 0,
      non2xx: 0,
      bytesRead: 0,
      p50: h.percentile(50),
      p99: h.percentile(99),
      max: h.max,
      targetRate: null,
    });
  }
  const latency = summarize(all);
  return {
    latency,
    actualLatency: latency,
    timeline,
    requestsPerSecond: all.count / 30,
    completed: all.count,
    statuses: { '200': all.count },
    errors: { connect: 0, timeout: 0, reset: 0 },
  } as unknown as LoadResult;
}

/** `n` latencies of one name, `factor` times the base shape, with `failed` non-2xx answers. */
function named(seed: number, n: number, factor: number, failed = 0): NamedResult {
  const random = seededRandom(seed);
  const h = latencyHistogram();
  for (let i = 0; i < n; i++) h.record(factor * (1000 + 4000 * random() ** 4));
  const latency: LatencySummary = summarize(h);
  return {
    sent: n,
    completed: n,
    requestsPerSecond: n / 30,
    statuses: failed > 0 ? { '200': n - failed, '503': failed } : { '200': n },
    errors: { connect: 0, timeout: 0, reset: 0 },
    checks: { checked: 0, failed: 0, failures: {} },
    latency,
  };
}

/** A run of {@link run} with two names: `read` (90%) and `create` (10%). */
function withNames(
  seed: number,
  names: { read: [number, number]; create: [number, number, number?] },
): LoadResult {
  const r = run(seed, 1, 1000);
  r.byName = {
    read: named(seed + 100, names.read[0], names.read[1]),
    create: named(seed + 200, names.create[0], names.create[1], names.create[2]),
  };
  return r;
}

describe('compareResults', () => {
  test('two runs of the same system differ only within noise', () => {
    const rows = compareResults(run(1, 1, 1000), run(2, 1, 1000));
    const loud = rows.filter((r) => !r.isNoise);
    assert.deepEqual(loud, [], JSON.stringify(loud));
  });

  test('a run twice as slow is reported worse on every percentile', () => {
    const rows = compareResults(run(1, 1, 1000), run(2, 2, 1000));
    for (const metric of ['p50', 'p90', 'p99', 'mean']) {
      const row = rows.find((r) => r.metric === metric)!;
      assert.equal(row.isNoise, false, metric);
      assert.equal(row.isBetter, false, metric);
      assert.ok(Math.abs(row.relative - 1) < 0.1, `${metric} ${row.relative}`);
    }
  });

  test('higher throughput is better, lower is worse', () => {
    const up = compareResults(run(1, 1, 1000), run(2, 1, 1500)).find((r) => r.metric === 'rps')!;
    assert.equal(up.isBetter, true);
    const down = compareResults(run(1, 1, 1500), run(2, 1, 1000)).find((r) => r.metric === 'rps')!;
    assert.equal(down.isBetter, false);
  });

  test('per request name: a slower name is reported worse, an unchanged one within noise', () => {
    const base = withNames(1, { read: [27000, 1], create: [3000, 1] });
    const current = withNames(2, { read: [27000, 1], create: [3000, 2] });
    const rows = compareResults(base, current);
    assert.deepEqual(Object.keys(rows.byName!), ['read', 'create']);
    const metric = (name: string, m: string) => rows.byName![name]!.find((r) => r.metric === m)!;
    assert.deepEqual(
      rows.byName!.create!.map((r) => r.metric),
      ['rps', 'p50', 'p99', 'errors'],
    );
    for (const m of ['p50', 'p99']) {
      assert.equal(metric('create', m).isBetter, false, `create ${m}`);
      assert.ok(Math.abs(metric('create', m).relative - 1) < 0.15, `create ${m}`);
      assert.equal(metric('read', m).isNoise, true, `read ${m}`);
    }
    assert.equal(metric('read', 'rps').isNoise, true);
    assert.deepEqual(rows.unmatchedNames, { base: [], current: [] });
  });

  test('per request name: a name that starts failing has a worse error share', () => {
    const base = withNames(1, { read: [27000, 1], create: [3000, 1] });
    const current = withNames(2, { read: [27000, 1], create: [3000, 1, 300] });
    const errors = compareResults(base, current).byName!.create!.find(
      (r) => r.metric === 'errors',
    )!;
    assert.equal(errors.current, 0.1);
    assert.equal(errors.isBetter, false);
  });

  test('per request name: the same p99 change is noise for a name with few requests, not for many', () => {
    const p99 = (n: number) =>
      compareResults(
        withNames(1, { read: [27000, 1], create: [n, 1] }),
        withNames(2, { read: [27000, 1], create: [n, 1.1] }),
      ).byName!.create!.find((r) => r.metric === 'p99')!;
    // 300 requests: p99 rests on the three slowest, and a 10% move there is sampling.
    assert.equal(p99(300).isNoise, true, JSON.stringify(p99(300)));
    assert.equal(p99(27000).isBetter, false, JSON.stringify(p99(27000)));
  });

  test('names of one result only are listed apart, and results without names have no byName', () => {
    const base = withNames(1, { read: [27000, 1], create: [3000, 1] });
    const current = withNames(2, { read: [27000, 1], create: [3000, 1] });
    current.byName = { read: current.byName!.read!, refund: current.byName!.create! };
    const rows = compareResults(base, current);
    assert.deepEqual(Object.keys(rows.byName!), ['read']);
    assert.deepEqual(rows.unmatchedNames, { base: ['create'], current: ['refund'] });
    const plain = compareResults(run(1, 1, 1000), run(2, 1, 1000));
    assert.equal(plain.byName, undefined);
    assert.equal(plain.length, 11, "the whole run's rows are unchanged");
  });
});
