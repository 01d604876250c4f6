import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import { describe, test } from 'node:test';
import {
  ClusterMetrics,
  Histogram,
  METRICS_MESSAGE,
  MetricsRegistry,
  type RegistrySnapshot,
} from './index.js';

/** A worker's registry: requests counted and timed (µs), and a heap gauge. */
function workerRegistry(requests: number, latencyUs: (i: number) => number, heap: number) {
  const registry = new MetricsRegistry();
  registry.counter({ name: 'app_requests_total', help: 'requests', labelNames: ['route'] });
  const counter = registry.counter({
    name: 'app_requests_total',
    help: 'requests',
    labelNames: ['route'],
  });
  const latency = registry.histogram({
    name: 'app_latency_seconds',
    help: 'latency',
    labelNames: ['route'],
    scale: 1e-6,
    buckets: [0.001, 0.01, 0.1],
  });
  const exact = new Histogram();
  for (let i = 0; i < requests; i++) {
    counter.labels('/a').inc();
    latency.labels('/a').record(latencyUs(i));
    exact.record(latencyUs(i));
  }
  registry.gauge({ name: 'app_heap_bytes', help: 'heap' }).set(heap);
  return { registry, exact };
}

interface ParsedFamily {
  name: string;
  metrics: Array<{
    labels?: Record<string, string>;
    value?: string;
    buckets?: Record<string, string>;
  }>;
}
const parse = createRequire(import.meta.url)('parse-prometheus-text-format') as (
  text: string,
) => ParsedFamily[];

function send(worker: EventEmitter, source: string, snapshot: RegistrySnapshot | null): void {
  worker.emit('message', { type: METRICS_MESSAGE, source, snapshot });
}

function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  for (const family of parse(text)) {
    for (const m of family.metrics) {
      const all = m.labels ?? {};
      if (family.name === name && Object.entries(labels).every(([k, v]) => all[k] === v)) {
        // A labelled histogram comes back without its count: read the +Inf bucket.
        return Number(m.value ?? m.buckets?.['+Inf']);
      }
    }
  }
  return NaN;
}

describe('ClusterMetrics', () => {
  test('exposes the exact merge of every worker, with the registry labels on every series', async () => {
    const metrics = new ClusterMetrics({
      registry: new MetricsRegistry({ labels: { instance: 'host:1' } }),
    });
    const a = workerRegistry(300, (i) => 100 + i * 7, 1000);
    const b = workerRegistry(500, (i) => 5000 + i * 13, 2000);
    const wa = new EventEmitter();
    const wb = new EventEmitter();
    metrics.watch(wa);
    metrics.watch(wb);
    send(wa, 'worker-1', a.registry.snapshot());
    send(wb, 'worker-2', b.registry.snapshot());
    const text = await metrics.registry.metrics();
    assert.match(text, /^app_requests_total\{instance="host:1",route="\/a"\} 800$/m);
    assert.match(text, /^app_heap_bytes\{instance="host:1"\} 3000$/m);
    const whole = new MetricsRegistry();
    const merged = whole.histogram({
      name: 'app_latency_seconds',
      help: 'latency',
      labelNames: ['route'],
      scale: 1e-6,
      buckets: [0.001, 0.01, 0.1],
    });
    merged.labels('/a').merge(a.exact);
    merged.labels('/a').merge(b.exact);
    // Bucket for bucket what one histogram of both streams exposes.
    const expected = (await whole.metrics()).split('\n').filter((l) => l.startsWith('app_latency'));
    const got = text
      .split('\n')
      .filter((l) => l.startsWith('app_latency'))
      .map((l) => l.replace('instance="host:1",', ''));
    assert.deepEqual(got, expected);
    assert.deepEqual(
      metrics.sources().map((s) => s.source),
      ['worker-1', 'worker-2'],
    );
  });

  test('a worker that has sent nothing yet is left out and the scrape still answers', async () => {
    const metrics = new ClusterMetrics();
    metrics.watch(new EventEmitter());
    const a = workerRegistry(10, () => 100, 1);
    const wa = new EventEmitter();
    metrics.watch(wa);
    send(wa, 'worker-1', a.registry.snapshot());
    const text = await metrics.registry.metrics();
    assert.equal(sample(text, 'app_requests_total'), 10);
    assert.equal(sample(text, 'hotpath_cluster_workers', { state: 'fresh' }), 1);
  });

  test('a worker whose snapshot is older than staleMs stays in the merge and counts as stale', async () => {
    let now = 0;
    const metrics = new ClusterMetrics({ staleMs: 5000, clock: { now: () => now } });
    const w = new EventEmitter();
    metrics.watch(w);
    send(w, 'worker-1', workerRegistry(10, () => 100, 1).registry.snapshot());
    now = 6000;
    const text = await metrics.registry.metrics();
    assert.equal(sample(text, 'app_requests_total'), 10);
    assert.equal(sample(text, 'hotpath_cluster_workers', { state: 'stale' }), 1);
    assert.equal(sample(text, 'hotpath_cluster_snapshot_age_max_seconds'), 6);
  });

  test("an exited worker's counters and histograms stay in the totals and its gauges leave", async () => {
    const metrics = new ClusterMetrics();
    const w1 = new EventEmitter();
    const w2 = new EventEmitter();
    metrics.watch(w1);
    metrics.watch(w2);
    send(w1, 'worker-1', workerRegistry(10, () => 100, 1000).registry.snapshot());
    send(w2, 'worker-2', workerRegistry(20, () => 200, 2000).registry.snapshot());
    w1.emit('exit');
    // Its replacement starts from zero under another name, and then exits too.
    const w3 = new EventEmitter();
    metrics.watch(w3);
    send(w3, 'worker-3', workerRegistry(5, () => 300, 500).registry.snapshot());
    send(w3, 'worker-3', null);
    const text = await metrics.registry.metrics();
    assert.equal(sample(text, 'app_requests_total'), 35);
    assert.equal(sample(text, 'app_latency_seconds'), 35);
    assert.equal(sample(text, 'app_heap_bytes'), 2000);
    assert.deepEqual(
      metrics.sources().map((s) => s.source),
      ['worker-2'],
    );
  });
});
