import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { compareResults } from './compare.js';
import { seededRandom } from './request-mix.js';
import type { LoadResult, TimelinePoint } from './result.js';
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
});
