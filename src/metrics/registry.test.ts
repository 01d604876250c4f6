import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createRequire } from 'node:module';
import promClient from 'prom-client';
import {
  DuplicateMetricError,
  Histogram,
  MetricLabelsError,
  MetricsRegistry,
  type RegistrySnapshot,
} from './index.js';

interface Parsed {
  name: string;
  help: string;
  type: string;
  metrics: Array<{
    value?: string;
    labels?: Record<string, string>;
    buckets?: Record<string, string>;
    count?: string;
    sum?: string;
  }>;
}
// The package ships no types; this is its one function.
const parse = createRequire(import.meta.url)('parse-prometheus-text-format') as (
  text: string,
) => Parsed[];

/** Every sample line of the text format 0.0.4, checked strictly: name{labels} value. */
const SAMPLE =
  /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*"(,[a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*")*)?\})? (-?[0-9.e+-]+|\+Inf|-Inf|NaN)$/;

function checkLines(text: string): void {
  assert.ok(text.endsWith('\n'));
  for (const line of text.slice(0, -1).split('\n')) {
    if (line.startsWith('# HELP ') || line.startsWith('# TYPE ')) continue;
    assert.match(line, SAMPLE);
  }
}

/** Cumulative `le` buckets of one histogram series, from the raw text. */
function bucketsOf(text: string, name: string, labels: string): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  const re = new RegExp(`^${name}_bucket\\{${labels}le="([^"]+)"\\} (\\S+)$`, 'gm');
  for (const m of text.matchAll(re))
    out.push([m[1] === '+Inf' ? Infinity : Number(m[1]), Number(m[2])]);
  return out;
}

describe('Prometheus exposition', () => {
  test('counters, gauges and histograms parse back with their values', async () => {
    const registry = new MetricsRegistry();
    const requests = registry.counter({
      name: 'app_requests_total',
      help: 'Requests served.\nSecond line with a \\ backslash',
      labelNames: ['route', 'method'],
    });
    requests.labels('/a', 'GET').inc(3);
    requests.labels('/b "quoted"\n', 'POST').inc();
    registry.gauge({ name: 'app_temperature', help: 'A gauge' }).set(-2.5);
    const latency = registry.histogram({
      name: 'app_latency_seconds',
      help: 'Latency',
      lowest: 1,
      highest: 60e6,
      scale: 1e-6,
    });
    const values: number[] = [];
    for (let i = 1; i <= 1000; i++) values.push(i * 37);
    for (const v of values) latency.record(v);

    const text = await registry.metrics();
    checkLines(text);
    const parsed = parse(text);
    const byName = new Map(parsed.map((f) => [f.name, f]));
    const counter = byName.get('app_requests_total')!;
    assert.equal(counter.type, 'COUNTER');
    assert.equal(counter.help, 'Requests served.\nSecond line with a \\ backslash');
    assert.deepEqual(
      counter.metrics.map((m) => [m.labels, m.value]),
      [
        [{ route: '/a', method: 'GET' }, '3'],
        [{ route: '/b "quoted"\n', method: 'POST' }, '1'],
      ],
    );
    assert.equal(byName.get('app_temperature')!.metrics[0]!.value, '-2.5');
    const hist = byName.get('app_latency_seconds')!;
    assert.equal(hist.type, 'HISTOGRAM');
    const series = hist.metrics[0]!;
    assert.equal(series.count, '1000');
    assert.ok(Math.abs(Number(series.sum) - values.reduce((a, b) => a + b) * 1e-6) < 1e-9);
    // Each le bucket holds (within one bucket width) the values at most le.
    for (const [le, count] of Object.entries(series.buckets!)) {
      const bound = le === '+Inf' ? Infinity : Number(le);
      const exact = values.filter((v) => v * 1e-6 <= bound).length;
      assert.ok(Math.abs(Number(count) - exact) <= 10, `le=${le}: ${count} vs ${exact}`);
    }
  });

  test('labelled histogram buckets are cumulative and end at the count', async () => {
    const registry = new MetricsRegistry();
    const h = registry.histogram({
      name: 'rpc_seconds',
      help: 'RPC latency',
      labelNames: ['service'],
      scale: 1e-6,
      highest: 60e6,
    });
    let seed = 7;
    for (const service of ['ledger', 'fx', 'risk']) {
      const series = h.labels(service);
      for (let i = 0; i < 5000; i++) {
        seed = (seed * 16807) % 2147483647;
        series.record(Math.exp((seed / 2147483647) * 16));
      }
    }
    const text = await registry.metrics();
    checkLines(text);
    for (const service of ['ledger', 'fx', 'risk']) {
      const buckets = bucketsOf(text, 'rpc_seconds', `service="${service}",`);
      assert.equal(buckets.length, 12);
      for (let i = 1; i < buckets.length; i++) {
        assert.ok(buckets[i]![0] > buckets[i - 1]![0]);
        assert.ok(buckets[i]![1] >= buckets[i - 1]![1], 'cumulative');
      }
      assert.equal(buckets.at(-1)![1], 5000);
      assert.match(text, new RegExp(`^rpc_seconds_count\\{service="${service}"\\} 5000$`, 'm'));
    }
  });

  test('a prom-client registry is exposed after ours', async () => {
    const registry = new MetricsRegistry();
    registry.counter({ name: 'ours_total', help: 'ours' }).inc(2);
    const prom = new promClient.Registry();
    const theirs = new promClient.Counter({
      name: 'theirs_total',
      help: 'theirs',
      registers: [prom],
    });
    theirs.inc(5);
    registry.addTextSource(prom);
    const text = await registry.metrics();
    const names = parse(text).map((f) => [f.name, f.metrics[0]!.value]);
    assert.deepEqual(names, [
      ['ours_total', '2'],
      ['theirs_total', '5'],
    ]);
    registry.removeTextSource(prom);
    assert.doesNotMatch(await registry.metrics(), /theirs_total/);
  });

  test('yields to the event loop while writing many series', async () => {
    const registry = new MetricsRegistry();
    const g = registry.gauge({ name: 'many', help: 'many', labelNames: ['i'] });
    for (let i = 0; i < 1000; i++) g.labels(String(i)).set(i);
    let ranDuring = 0;
    let done = false;
    const tick = (): void => {
      if (done) return;
      ranDuring++;
      setImmediate(tick);
    };
    setImmediate(tick);
    const text = await registry.metrics({ sliceMs: 0 });
    done = true;
    assert.ok(ranDuring > 10, `the loop turned ${ranDuring} times during the scrape`);
    assert.equal(text.split('\n').filter((l) => l.startsWith('many{')).length, 1000);
  });

  test('an aborted scrape rejects with HP_ERR_ABORTED', async () => {
    const registry = new MetricsRegistry();
    registry.counter({ name: 'x_total', help: 'x' }).inc();
    await assert.rejects(registry.metrics({ signal: AbortSignal.abort() }), {
      code: 'HP_ERR_ABORTED',
    });
  });
});

describe('registry', () => {
  test('returns the same metric for the same definition and refuses a different one', () => {
    const registry = new MetricsRegistry();
    const a = registry.counter({ name: 'a_total', help: 'a', labelNames: ['x'] });
    assert.equal(registry.counter({ name: 'a_total', help: 'a', labelNames: ['x'] }), a);
    assert.throws(() => registry.gauge({ name: 'a_total', help: 'a' }), DuplicateMetricError);
    assert.throws(() => registry.counter({ name: 'a_total', help: 'a', labelNames: ['y'] }), {
      code: 'HP_ERR_METRICS_DUPLICATE',
    });
  });

  test('label values are checked and past maxSeries fold into other', async () => {
    const registry = new MetricsRegistry();
    const c = registry.counter({ name: 'c_total', help: 'c', labelNames: ['user'], maxSeries: 3 });
    assert.throws(() => c.labels(), MetricLabelsError);
    assert.throws(() => c.inc(), { code: 'HP_ERR_METRICS_LABELS' });
    for (let i = 0; i < 10; i++) c.labels(`u${i}`).inc();
    assert.equal(c.folded, 7);
    const text = await registry.metrics();
    assert.match(text, /^c_total\{user="other"\} 7$/m);
    assert.match(text, /^c_total\{user="u2"\} 1$/m);
    assert.doesNotMatch(text, /u3/);
  });

  test('options are checked', () => {
    const registry = new MetricsRegistry();
    assert.throws(() => registry.counter({ name: 'bad name', help: '' }), { option: 'name' });
    assert.throws(() => registry.counter({ name: 'x', help: '', labelNames: ['le'] }), {
      option: 'labelNames',
    });
    assert.throws(() => registry.histogram({ name: 'h', help: '', buckets: [2, 1] }), {
      option: 'buckets',
    });
  });

  test('collect callbacks run before each exposition', async () => {
    const registry = new MetricsRegistry();
    let n = 0;
    const polled = registry.gauge({ name: 'polled', help: 'p', collect: () => polled.set(++n) });
    assert.match(await registry.metrics(), /^polled 1$/m);
    assert.match(await registry.metrics(), /^polled 2$/m);
  });
});

describe('remote snapshots', () => {
  test('series of worker snapshots are summed and histograms merged exactly', async () => {
    const make = (): MetricsRegistry => {
      const r = new MetricsRegistry();
      r.counter({ name: 'jobs_total', help: 'jobs', labelNames: ['kind'] });
      r.histogram({ name: 'job_seconds', help: 'job time', scale: 1e-6 });
      return r;
    };
    const main = make();
    const workers = [make(), make()];
    const all = new Histogram();
    [main, ...workers].forEach((r, i) => {
      (r.get('jobs_total') as ReturnType<MetricsRegistry['counter']>).labels('a').inc(i + 1);
      for (let v = 1; v <= 100; v++) {
        (r.get('job_seconds') as ReturnType<MetricsRegistry['histogram']>).record(
          v * (i + 1) * 100,
        );
        all.record(v * (i + 1) * 100);
      }
    });
    workers.forEach((w, i) => {
      const wire = JSON.parse(JSON.stringify(w.snapshot())) as RegistrySnapshot;
      main.setRemote(`worker-${i}`, wire);
    });
    assert.deepEqual(main.remotes, ['worker-0', 'worker-1']);
    const text = await main.metrics();
    assert.match(text, /^jobs_total\{kind="a"\} 6$/m);
    assert.match(text, /^job_seconds_count 300$/m);
    const sum = Number(/^job_seconds_sum (\S+)$/m.exec(text)![1]);
    assert.ok(Math.abs(sum - all.sum * 1e-6) < 1e-9);
    main.setRemote('worker-0', undefined);
    assert.match(await main.metrics(), /^job_seconds_count 200$/m);
  });
});

describe('registry labels', () => {
  test('are written first on every series, remote and histogram series included', async () => {
    const registry = new MetricsRegistry({ labels: { instance: 'a"b' } });
    registry.counter({ name: 'plain_total', help: 'p' }).inc();
    registry
      .histogram({ name: 'h_seconds', help: 'h', labelNames: ['route'], buckets: [2] })
      .labels('/x')
      .record(0.5);
    const remote = new MetricsRegistry();
    remote
      .gauge({ name: 'remote_gauge', help: 'r', labelNames: ['k'] })
      .labels('v')
      .set(2);
    registry.setRemote('w', remote.snapshot());
    const text = await registry.metrics();
    assert.match(text, /^plain_total\{instance="a\\"b"\} 1$/m);
    assert.match(text, /^h_seconds_bucket\{instance="a\\"b",route="\/x",le="2"\} 1$/m);
    assert.match(text, /^h_seconds_count\{instance="a\\"b",route="\/x"\} 1$/m);
    assert.match(text, /^remote_gauge\{instance="a\\"b",k="v"\} 2$/m);
  });

  test('refuses a bad label name and a metric whose label names include one', () => {
    assert.throws(() => new MetricsRegistry({ labels: { le: 'x' } }), {
      code: 'HP_ERR_INVALID_OPTION',
    });
    const registry = new MetricsRegistry({ labels: { instance: 'a' } });
    assert.throws(() => registry.counter({ name: 'c', help: 'c', labelNames: ['instance'] }), {
      code: 'HP_ERR_INVALID_OPTION',
      option: 'labelNames',
    });
  });
});

describe('merged histograms between scrapes', () => {
  test('each scrape merges the latest snapshots afresh, whatever the previous scrape held', async () => {
    const registry = new MetricsRegistry();
    const worker = new MetricsRegistry();
    const h = worker.histogram({ name: 'w_seconds', help: 'w', buckets: [10, 100] });
    h.record(5);
    registry.setRemote('a', worker.snapshot());
    registry.setRemote('b', worker.snapshot());
    assert.match(await registry.metrics(), /^w_seconds_count 2$/m);
    h.record(50);
    registry.setRemote('a', worker.snapshot());
    const text = await registry.metrics();
    assert.match(text, /^w_seconds_count 3$/m);
    assert.match(text, /^w_seconds_bucket\{le="10"\} 2$/m);
    assert.match(text, /^w_seconds_bucket\{le="100"\} 3$/m);
    registry.setRemote('b', undefined);
    assert.match(await registry.metrics(), /^w_seconds_count 2$/m);
  });
});
