/**
 * One scrape of a node:cluster service with 4 workers, each holding the metrics of a
 * service's requests (25 routes x 2 methods x 2 status classes: 100 counter and 100
 * histogram series, 12 `le` buckets, 2,000 requests recorded): the primary's `/metrics` over
 * HTTP, hotpath vs prom-client, interleaved over rounds, medians.
 *
 * - hotpath: workers push `registry.snapshot()` every second (`shareWithParent`); the primary's
 *   `ClusterMetrics` registry merges what it holds when scraped, asking no worker. Streamed in
 *   slices of 1 ms, as the service's primary does (it runs nothing else that a slice would
 *   delay but the hand-off of new connections), and of the default 0.25 ms: on a loaded machine
 *   each yield between slices can cost a trip through the scheduler.
 * - prom-client 15: `AggregatorRegistry.clusterMetrics()` asks every worker over IPC on each
 *   scrape and merges their answers (its documented cluster setup).
 *
 * Then one worker is frozen (SIGSTOP) and each is scraped once more. The merged histograms
 * are checked against one histogram of every worker's values (exactness). Also reported: the
 * primary's CPU spent receiving hotpath's pushes while idle.
 *
 *   npm run bench -- metrics --filter cluster-scrape
 *   BENCH_ROUNDS=40 npm run bench -- metrics --filter cluster-scrape   # 200 scrapes a side
 */
import cluster, { type Worker } from 'node:cluster';
import { Agent, createServer, get, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  ClusterMetrics,
  Histogram,
  MetricsRegistry,
  shareWithParent,
  type HistogramMetric,
} from 'hotpath/metrics';
import promClient from 'prom-client';
import { loadavg } from 'node:os';
import { environment, median, writeResult } from '../lib/report.js';

const WORKERS = Number(process.env.BENCH_WORKERS ?? 4);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 15);
const SCRAPES_PER_ROUND = 5;
const ROUTES = 25;
const REQUESTS = 2000;
/** The slice the service's primary uses (service/cluster.ts). */
const PRIMARY_SLICE_MS = 1;
const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.25, 0.5, 1, 2.5, 5, 10];

/** Worker `w`'s i-th request: route, method, status class and latency in µs, deterministic. */
function request(w: number, i: number) {
  let x = (w * 1_000_003 + i * 7919 + 1) % 2147483647;
  const next = (): number => {
    x = (x * 16807) % 2147483647;
    return x / 2147483647;
  };
  const route = `/api/resource${Math.floor(next() * ROUTES)}/:id`;
  const method = next() < 0.7 ? 'GET' : 'POST';
  const status = next() < 0.97 ? '2xx' : '5xx';
  const micros = Math.exp(6 + next() * 7);
  return { route, method, status, micros };
}

function hotpathRegistry(): { registry: MetricsRegistry; latency: HistogramMetric } {
  const registry = new MetricsRegistry();
  registry.counter({
    name: 'http_requests_total',
    help: 'requests',
    labelNames: ['method', 'route', 'status_class'],
  });
  const latency = registry.histogram({
    name: 'http_request_duration_seconds',
    help: 'latency',
    labelNames: ['method', 'route', 'status_class'],
    lowest: 1,
    highest: 60e6,
    scale: 1e-6,
    buckets: BUCKETS,
  });
  return { registry, latency };
}

/** Nearest-rank percentile of `values`. */
function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
}

if (cluster.isWorker) {
  const w = Number(process.env.BENCH_WORKER);
  const { registry, latency } = hotpathRegistry();
  const counter = registry.get('http_requests_total') as ReturnType<MetricsRegistry['counter']>;
  // prom-client's documented cluster setup: metrics in the global registry, and an
  // AggregatorRegistry constructed in the worker too, which makes it answer the primary.
  const promCounter = new promClient.Counter({
    name: 'http_requests_total',
    help: 'requests',
    labelNames: ['method', 'route', 'status_class'],
  });
  const promHistogram = new promClient.Histogram({
    name: 'http_request_duration_seconds',
    help: 'latency',
    labelNames: ['method', 'route', 'status_class'],
    buckets: BUCKETS,
  });
  new promClient.AggregatorRegistry();
  for (let i = 0; i < REQUESTS; i++) {
    const r = request(w, i);
    counter.labels(r.method, r.route, r.status).inc();
    latency.labels(r.method, r.route, r.status).record(r.micros);
    const labels = { method: r.method, route: r.route, status_class: r.status };
    promCounter.inc(labels);
    promHistogram.observe(labels, r.micros / 1e6);
  }
  shareWithParent(registry, { source: `worker-${w}`, intervalMs: 1000 });
  process.on('message', (m) => {
    if (m === 'stop') process.exit(0);
  });
} else {
  const clusterMetrics = new ClusterMetrics();
  const aggregator = new promClient.AggregatorRegistry();
  const workers: Worker[] = [];
  for (let w = 0; w < WORKERS; w++) {
    const worker = cluster.fork({ BENCH_WORKER: String(w) });
    clusterMetrics.watch(worker);
    workers.push(worker);
  }
  // Every worker has pushed once.
  while (clusterMetrics.sources().length < WORKERS) await new Promise((r) => setTimeout(r, 50));

  const serve = (render: () => AsyncIterable<string> | Promise<string>): Promise<Server> => {
    const server = createServer(async (_req, res) => {
      try {
        const body = render();
        if (typeof (body as Promise<string>).then === 'function') {
          const text = await body;
          res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
          res.end(text);
        } else {
          res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
          for await (const chunk of body as AsyncIterable<string>) res.write(chunk);
          res.end();
        }
      } catch (error) {
        if (res.headersSent) res.destroy();
        else {
          res.writeHead(500);
          res.end((error as Error).message);
        }
      }
    });
    return new Promise((r) => server.listen(0, '127.0.0.1', () => r(server)));
  };
  const servers = {
    'hotpath ClusterMetrics (pushed snapshots)': await serve(() =>
      clusterMetrics.registry.stream({ sliceMs: PRIMARY_SLICE_MS }),
    ),
    'hotpath ClusterMetrics, default 0.25 ms slices': await serve(() =>
      clusterMetrics.registry.stream(),
    ),
    'prom-client AggregatorRegistry.clusterMetrics()': await serve(() =>
      aggregator.clusterMetrics(),
    ),
  };
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  // Wall time of one scrape, and the primary's CPU time during it (client included, alike for
  // all; prom-client's workers also spend CPU answering, not counted here).
  const scrape = (
    server: Server,
  ): Promise<{ ms: number; cpuMs: number; status: number; text: string }> =>
    new Promise((resolve, reject) => {
      const start = performance.now();
      const cpu = process.cpuUsage();
      get({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, agent }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => {
          const used = process.cpuUsage(cpu);
          resolve({
            ms: performance.now() - start,
            cpuMs: (used.user + used.system) / 1000,
            status: res.statusCode ?? 0,
            text,
          });
        });
      }).on('error', reject);
    });

  // Primary CPU spent taking the workers' pushes, idle, over 5 s.
  const cpuBefore = process.cpuUsage();
  const idleStart = performance.now();
  await new Promise((r) => setTimeout(r, 5000));
  const idleCpu = process.cpuUsage(cpuBefore);
  const pushCpuMsPerSecond =
    (idleCpu.user + idleCpu.system) / 1000 / ((performance.now() - idleStart) / 1000);

  for (const server of Object.values(servers)) await scrape(server);
  const samples: Record<string, number[]> = {};
  const cpuSamples: Record<string, number[]> = {};
  const bytes: Record<string, number> = {};
  for (let r = 0; r < ROUNDS; r++) {
    for (const [name, server] of Object.entries(servers)) {
      for (let k = 0; k < SCRAPES_PER_ROUND; k++) {
        const { ms, cpuMs, status, text } = await scrape(server);
        if (status !== 200) throw new Error(`${name}: status ${status}: ${text}`);
        (samples[name] ??= []).push(ms);
        (cpuSamples[name] ??= []).push(cpuMs);
        bytes[name] = text.length;
      }
    }
  }
  const medians = Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, median(v)]));
  const cpuMedians = Object.fromEntries(Object.entries(cpuSamples).map(([k, v]) => [k, median(v)]));
  const p90s = Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, percentile(v, 90)]));

  // Exactness: each merged series equals one histogram of every worker's values.
  const exact = hotpathRegistry();
  for (let w = 0; w < WORKERS; w++) {
    for (let i = 0; i < REQUESTS; i++) {
      const r = request(w, i);
      exact.latency.labels(r.method, r.route, r.status).record(r.micros);
    }
  }
  const lines = (text: string) =>
    text
      .split('\n')
      .filter((l) => l.startsWith('http_request_duration_seconds'))
      .sort();
  const mergedText = (await scrape(servers['hotpath ClusterMetrics (pushed snapshots)'])).text;
  const exactLines = lines(await exact.registry.metrics());
  // Buckets and counts must be equal; sums may differ in the last digits (the order of float
  // additions differs), so they are compared to 1e-12 relative.
  const got = lines(mergedText);
  const isExact =
    got.length === exactLines.length &&
    got.every((line, i) => {
      const want = exactLines[i]!;
      if (!line.startsWith('http_request_duration_seconds_sum')) return line === want;
      const [gk, gv] = line.split(' ');
      const [wk, wv] = want.split(' ');
      return gk === wk && Math.abs(Number(gv) - Number(wv)) <= 1e-12 * Math.abs(Number(wv));
    });
  const all = new Histogram();
  for (const s of exact.latency.series()) all.merge(s.value);

  // One worker frozen: what each scrape does now.
  process.kill(workers[0]!.process.pid!, 'SIGSTOP');
  const [ours, oursDefault, theirs] = Object.keys(medians) as [string, string, string];
  const frozen: Record<string, { ms: number; status: number; body: string }> = {};
  for (const [name, server] of Object.entries(servers)) {
    if (name === oursDefault) continue;
    const { ms, status, text } = await scrape(server);
    frozen[name] = { ms, status, body: status === 200 ? `${text.length} bytes` : text };
  }
  process.kill(workers[0]!.process.pid!, 'SIGCONT');

  const env = environment();
  console.log(
    `scrape of ${WORKERS} workers over HTTP (${ROUNDS} rounds x ${SCRAPES_PER_ROUND} scrapes, medians and p90; node ${env.node}, ${env.cpu}, ${env.cores} cores, load ${loadavg()[0]!.toFixed(1)})`,
  );
  for (const name of [ours, oursDefault, theirs]) {
    console.log(
      `  ${name.padEnd(48)} ${medians[name]!.toFixed(2)} ms (p90 ${p90s[name]!.toFixed(2)} ms), primary CPU ${cpuMedians[name]!.toFixed(2)} ms  (${bytes[name]} bytes)`,
    );
  }
  console.log(`  prom-client takes ${(medians[theirs]! / medians[ours]!).toFixed(1)}x as long`);
  console.log(
    `  merged histograms equal one histogram of all ${WORKERS * REQUESTS} values: ${isExact ? 'yes' : 'NO'} (p99 ${(all.percentile(99) / 1000).toFixed(3)} ms)`,
  );
  console.log(
    `  primary CPU taking the pushes (${WORKERS} snapshots/s): ${pushCpuMsPerSecond.toFixed(2)} ms per second`,
  );
  for (const [name, f] of Object.entries(frozen)) {
    console.log(
      `  one worker SIGSTOPped: ${name}: ${f.status} in ${f.ms.toFixed(1)} ms (${f.body.slice(0, 60)})`,
    );
  }
  writeResult('metrics-cluster-scrape', {
    workers: WORKERS,
    rounds: ROUNDS,
    scrapesPerRound: SCRAPES_PER_ROUND,
    seriesPerWorker: { counter: ROUTES * 4, histogram: ROUTES * 4 },
    medianMs: medians,
    p90Ms: p90s,
    samplesMs: samples,
    primaryCpuMedianMs: cpuMedians,
    primarySliceMs: PRIMARY_SLICE_MS,
    bytes,
    exact: isExact,
    p99Ms: all.percentile(99) / 1000,
    pushCpuMsPerSecond,
    frozenWorker: frozen,
    loadAverage: loadavg(),
  });
  for (const w of workers) w.send('stop');
  for (const server of Object.values(servers)) server.close();
  agent.destroy();
  await clusterMetrics.close();
}
