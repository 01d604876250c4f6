import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { seededRandom } from '../internal/random.js';
import { Histogram, HistogramMismatchError } from './index.js';

/** A seeded PRNG, so every run sees the same data. */
const rng = seededRandom;

function uniform(n: number, seed: number): number[] {
  const r = rng(seed);
  return Array.from({ length: n }, () => 1 + r() * 1e6);
}

function pareto(n: number, seed: number): number[] {
  const r = rng(seed);
  // xm = 100, alpha = 1.1: a very long tail.
  return Array.from({ length: n }, () => 100 / Math.pow(1 - r(), 1 / 1.1));
}

function lognormal(n: number, seed: number): number[] {
  const r = rng(seed);
  return Array.from({ length: n }, () => {
    const z = Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
    return Math.exp(Math.log(2000) + 1.5 * z);
  });
}

/** Nearest-rank percentile over sorted data, the definition Histogram.percentile follows. */
function exact(sorted: number[], p: number): number {
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length - 1e-9));
  return sorted[rank - 1]!;
}

const percentiles = [50, 75, 90, 95, 99, 99.9, 99.99];

for (const [name, data] of [
  ['uniform', uniform(200_000, 1)],
  ['Pareto (alpha 1.1)', pareto(200_000, 2)],
  ['lognormal (sigma 1.5)', lognormal(200_000, 3)],
] as const) {
  test(`percentiles of ${name} data stay within 1% of an exact sort`, () => {
    const h = new Histogram();
    for (const v of data) h.record(v);
    const sorted = [...data].sort((a, b) => a - b);
    for (const p of percentiles) {
      const want = exact(sorted, p);
      const got = h.percentile(p);
      const error = Math.abs(got - want) / want;
      assert.ok(error <= 0.01, `p${p}: got ${got}, exact ${want}, error ${error}`);
    }
    assert.equal(h.percentile(100), sorted.at(-1));
    assert.equal(h.max, sorted.at(-1));
    assert.equal(h.min, sorted[0]);
    assert.equal(h.count, data.length);
    const sum = data.reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(h.sum - sum) / sum < 1e-9);
    const mean = sum / data.length;
    const variance = data.reduce((a, v) => a + (v - mean) ** 2, 0) / data.length;
    assert.ok(Math.abs(h.mean - mean) / mean < 1e-9);
    assert.ok(Math.abs(h.stdev - Math.sqrt(variance)) / Math.sqrt(variance) < 1e-6);
  });
}

test('a tighter precision gives a tighter bound', () => {
  const data = lognormal(50_000, 9);
  const h = new Histogram({ precision: 0.001 });
  for (const v of data) h.record(v);
  const sorted = [...data].sort((a, b) => a - b);
  for (const p of percentiles) {
    const want = exact(sorted, p);
    assert.ok(Math.abs(h.percentile(p) - want) / want <= 0.001, `p${p}`);
  }
});

test('percentiles of a single repeated value are that value', () => {
  const h = new Histogram();
  h.recordMany(1234.5, 1000);
  for (const p of [0, 1, 50, 99.99, 100]) assert.equal(h.percentile(p), 1234.5);
  assert.equal(h.stdev, 0);
});

describe('merge', () => {
  test('merging four parts equals recording everything into one histogram', () => {
    const data = pareto(100_000, 4);
    const single = new Histogram();
    for (const v of data) single.record(v);
    const parts = [new Histogram(), new Histogram(), new Histogram(), new Histogram()];
    data.forEach((v, i) => parts[i % 4]!.record(v));
    const merged = new Histogram();
    for (const part of parts) merged.merge(part);
    const a = single.snapshot();
    const b = merged.snapshot();
    assert.deepEqual(b.indexes, a.indexes);
    assert.deepEqual(b.counts, a.counts);
    assert.equal(b.count, a.count);
    assert.equal(b.min, a.min);
    assert.equal(b.max, a.max);
    assert.ok(Math.abs(b.sum - a.sum) / a.sum < 1e-12);
    for (const p of [...percentiles, 0, 100])
      assert.equal(merged.percentile(p), single.percentile(p));
  });

  test('a snapshot survives JSON and merges like the histogram it came from', () => {
    const data = lognormal(10_000, 5);
    const h = new Histogram();
    for (const v of data) h.record(v);
    const wire = JSON.parse(JSON.stringify(h.snapshot()));
    const back = Histogram.fromSnapshot(wire);
    assert.deepEqual(back.snapshot(), h.snapshot());
    const twice = Histogram.fromSnapshot(wire);
    twice.merge(h);
    assert.equal(twice.count, 2 * h.count);
    assert.equal(twice.percentile(99), h.percentile(99));
  });

  test('refuses a histogram with another layout', () => {
    const h = new Histogram();
    assert.throws(() => h.merge(new Histogram({ precision: 0.001 })), HistogramMismatchError);
    assert.throws(() => h.merge(new Histogram({ lowest: 1000 })), {
      code: 'HP_ERR_METRICS_HISTOGRAM_MISMATCH',
    });
  });

  test('merging into a smaller range clamps and counts the overflow', () => {
    const small = new Histogram({ highest: 1000 });
    const big = new Histogram({ highest: 1e6 });
    big.record(5000);
    big.record(10);
    small.merge(big);
    assert.equal(small.count, 2);
    assert.equal(small.outOfRange, 1);
    assert.equal(small.max, 1000);
  });
});

test('values outside [lowest, highest] are clamped, and high ones are counted', () => {
  const h = new Histogram({ lowest: 1, highest: 1000 });
  h.record(0);
  h.record(-3);
  h.record(Number.NaN);
  h.record(5000);
  assert.equal(h.count, 4);
  assert.equal(h.min, 1);
  assert.equal(h.max, 1000);
  assert.equal(h.outOfRange, 1);
  assert.equal(h.percentile(100), 1000);
});

test('buckets are ascending, non-empty and add up to the count', () => {
  const h = new Histogram();
  for (const v of uniform(10_000, 6)) h.record(v);
  let previous = 0;
  let total = 0;
  for (const { upperBound, count } of h.buckets()) {
    assert.ok(upperBound > previous);
    assert.ok(count > 0);
    previous = upperBound;
    total += count;
  }
  assert.equal(total, h.count);
  assert.ok(previous >= h.max);
  assert.equal(h.countBelow(Infinity), h.count);
  assert.equal(h.countBelow(0.5), 0);
});

test('reset empties the histogram', () => {
  const h = new Histogram();
  h.record(10);
  h.reset();
  assert.equal(h.count, 0);
  assert.equal(h.percentile(99), 0);
  assert.equal(h.max, 0);
  assert.deepEqual([...h.buckets()], []);
});

test('options are checked and named', () => {
  assert.throws(() => new Histogram({ lowest: 0 }), {
    code: 'HP_ERR_INVALID_OPTION',
    option: 'lowest',
  });
  assert.throws(() => new Histogram({ highest: 1 }), { option: 'highest' });
  assert.throws(() => new Histogram({ precision: 0.9 }), { option: 'precision' });
  assert.throws(() => new Histogram().percentile(101), { option: 'p' });
});

test('the default layout covers one hour in nanoseconds in a few tens of kilobytes', () => {
  const h = new Histogram();
  assert.equal(h.subBucketCount, 64);
  assert.ok(h.byteLength <= 32 * 1024, `${h.byteLength} bytes`);
  h.record(3.6e12);
  assert.equal(h.outOfRange, 0);
  assert.equal(h.percentile(100), 3.6e12);
});
