/**
 * Histogram record cost: hotpath's Histogram vs prom-client Histogram.observe (with labels),
 * OpenTelemetry sdk-metrics Histogram.record, hdr-histogram-js recordValue (JS build) and
 * Node's native perf_hooks.createHistogram, in one process, interleaved over rounds.
 *
 *   npm run bench -- metrics --filter record
 */
import { createHistogram } from 'node:perf_hooks';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import * as hdr from 'hdr-histogram-js';
import { Histogram } from 'hotpath/metrics';
import promClient from 'prom-client';
import { interleave, printRatios, writeResult } from '../lib/report.js';

const OPS = 2_000_000;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);

// Latency-like integer microseconds (lognormal around 2 ms), so every rival accepts them.
const values = new Float64Array(4096);
let seed = 42;
const random = (): number => {
  seed = (seed * 1103515245 + 12345) % 2147483648;
  return seed / 2147483648;
};
for (let i = 0; i < values.length; i++) {
  const z = Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  values[i] = Math.max(1, Math.round(Math.exp(Math.log(2000) + z)));
}
const mask = values.length - 1;

function opsPerSecond(loop: () => void): number {
  const start = process.hrtime.bigint();
  loop();
  return OPS / (Number(process.hrtime.bigint() - start) / 1e9);
}

const ours = new Histogram({ lowest: 1, highest: 3.6e9 });
const registry = new promClient.Registry();
const prom = new promClient.Histogram({
  name: 'bench_latency_seconds',
  help: 'bench',
  labelNames: ['route', 'method', 'status'],
  registers: [registry],
});
const labels = { route: '/api/payments/:id', method: 'GET', status: '2xx' };
const meter = new MeterProvider().getMeter('bench');
const otel = meter.createHistogram('bench_latency');
const otelAttributes = { route: '/api/payments/:id', method: 'GET', status: '2xx' };
const hdrJs = hdr.build({
  bitBucketSize: 64,
  lowestDiscernibleValue: 1,
  highestTrackableValue: 3_600_000_000,
  numberOfSignificantValueDigits: 2,
  useWebAssembly: false,
});
const native = createHistogram({ lowest: 1, highest: 3_600_000_000, figures: 2 });

const candidates = {
  'hotpath Histogram.record': () =>
    opsPerSecond(() => {
      for (let i = 0; i < OPS; i++) ours.record(values[i & mask]!);
    }),
  'prom-client observe (3 labels)': () =>
    opsPerSecond(() => {
      for (let i = 0; i < OPS / 10; i++) prom.observe(labels, values[i & mask]! / 1e6);
    }) / 10,
  'OpenTelemetry Histogram.record': () =>
    opsPerSecond(() => {
      for (let i = 0; i < OPS / 10; i++) otel.record(values[i & mask]!, otelAttributes);
    }) / 10,
  'hdr-histogram-js recordValue': () =>
    opsPerSecond(() => {
      for (let i = 0; i < OPS; i++) hdrJs.recordValue(values[i & mask]!);
    }),
  'perf_hooks createHistogram': () =>
    opsPerSecond(() => {
      for (let i = 0; i < OPS; i++) native.record(values[i & mask]!);
    }),
};

// Warm every candidate up once so the JIT has seen them all before timing.
for (const fn of Object.values(candidates)) fn();
const result = await interleave(candidates, ROUNDS);
const medians = Object.fromEntries(Object.entries(result).map(([k, v]) => [k, v.median]));
printRatios('histogram record', medians, 'ops/s', 'hotpath Histogram.record');
for (const [name, ops] of Object.entries(medians)) {
  console.log(`  ${name.padEnd(32)} ${(1e9 / ops).toFixed(1)} ns/op`);
}
writeResult('metrics-record', result);
