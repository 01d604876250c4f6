/**
 * A real Prometheus (Debian's /usr/bin/prometheus) scrapes two instances built with the public
 * hotpath/metrics API every second; known traffic is recorded on both; Prometheus'
 * histogram_quantile over the sum of their rates agrees with hotpath's exact merge of the two
 * histograms. Prometheus runs from a config in a temporary directory, on free loopback ports,
 * and is stopped by its PID. Without the binary the test skips locally and fails under CI.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Histogram, MetricsRegistry, type HistogramMetric } from 'hotpath/metrics';

const PROMETHEUS = '/usr/bin/prometheus';
const isCI = process.env.CI === '1' || process.env.CI === 'true';
const skip =
  !existsSync(PROMETHEUS) && !isCI
    ? `${PROMETHEUS} is not installed (Debian package prometheus)`
    : false;
if (skip !== false) console.log(`# skipping: ${skip}`);

/** `le` bounds 2 % apart from 1 ms to 30 s: Prometheus' interpolation error is one of them. */
const RATIO = 1.02;
const BUCKETS: number[] = [];
for (let b = 0.001; b < 30; b *= RATIO) BUCKETS.push(Number(b.toPrecision(6)));
const PRECISION = 0.01;
/** One `le` bucket either way (hotpath files a value by its fine bucket's midpoint) plus hotpath's own error. */
const TOLERANCE = 2 * (RATIO - 1) + PRECISION;
const VALUES_PER_INSTANCE = 20_000;

function instance(name: string): { registry: MetricsRegistry; latency: HistogramMetric } {
  const registry = new MetricsRegistry({ labels: { instance: name } });
  const latency = registry.histogram({
    name: 'app_request_duration_seconds',
    help: 'Request latency',
    lowest: 1,
    highest: 60e6,
    precision: PRECISION,
    scale: 1e-6,
    buckets: BUCKETS,
  });
  latency.labels(); // the series exists (zero) before any traffic, as a service's would
  return { registry, latency };
}

function serve(registry: MetricsRegistry): Promise<Server> {
  const server = createServer(async (_req, res) => {
    res.writeHead(200, { 'content-type': registry.contentType });
    for await (const chunk of registry.stream()) res.write(chunk);
    res.end();
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Lognormal latencies in microseconds (median 20 ms, a long tail), from a seeded generator. */
function latencies(seed: number, n: number): number[] {
  let x = seed;
  const uniform = (): number => {
    x = (x * 16807) % 2147483647;
    return x / 2147483647;
  };
  return Array.from({ length: n }, () => {
    const z = Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
    return Math.exp(Math.log(20_000) + 0.9 * z);
  });
}

describe('a real Prometheus scraping two hotpath instances', { skip }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'hotpath-prometheus-'));
  const a = instance('a');
  const b = instance('b');
  const servers: Server[] = [];
  let prometheus: ChildProcess | undefined;
  let api = '';
  let log = '';

  async function query(
    expr: string,
  ): Promise<Array<{ metric: Record<string, string>; value: [number, string] }>> {
    const res = await fetch(`${api}/api/v1/query?query=${encodeURIComponent(expr)}`, {
      signal: AbortSignal.timeout(10_000),
    });
    const body = (await res.json()) as {
      status: string;
      data: { result: Array<{ metric: Record<string, string>; value: [number, string] }> };
    };
    assert.equal(body.status, 'success', JSON.stringify(body));
    return body.data.result;
  }

  /** Polls `expr` until `ok` holds; bounded, a failure naming what never happened. */
  async function until(
    expr: string,
    ok: (r: Awaited<ReturnType<typeof query>>) => boolean,
    what: string,
  ) {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const result = await query(expr).catch(() => []);
      if (ok(result)) return result;
      if (Date.now() > deadline) throw new Error(`${what}: ${JSON.stringify(result)}\n${log}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  before(async () => {
    servers.push(await serve(a.registry), await serve(b.registry));
    const targets = servers.map((s) => `'127.0.0.1:${(s.address() as AddressInfo).port}'`);
    writeFileSync(
      join(dir, 'prometheus.yml'),
      [
        'global:',
        '  scrape_interval: 1s',
        '  scrape_timeout: 1s',
        'scrape_configs:',
        '  - job_name: hotpath',
        '    static_configs:',
        `      - targets: [${targets.join(', ')}]`,
        '',
      ].join('\n'),
    );
    const port = await freePort();
    api = `http://127.0.0.1:${port}`;
    prometheus = spawn(
      PROMETHEUS,
      [
        `--config.file=${join(dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--log.level=warn',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    prometheus.stdout?.on('data', (d: Buffer) => (log += d.toString()));
    prometheus.stderr?.on('data', (d: Buffer) => (log += d.toString()));
    // Both targets scraped at least three times with no traffic yet.
    await until(
      'count_over_time(app_request_duration_seconds_count[1m]) >= 3',
      (r) => r.length === 2,
      'three scrapes of each instance',
    );
  });

  after(async () => {
    if (prometheus?.pid !== undefined && prometheus.exitCode === null) {
      const exited = new Promise((r) => prometheus!.once('exit', r));
      process.kill(prometheus.pid, 'SIGTERM');
      const timer = setTimeout(() => process.kill(prometheus!.pid!, 'SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    for (const s of servers) s.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('histogram_quantile(0.99) of the summed rates agrees with the merged hotpath p99', async () => {
    // The same distribution on both instances, different values: Prometheus extrapolates each
    // target's rate by its own scrape phase, which must not weigh one distribution over another.
    const merged = new Histogram({ lowest: 1, highest: 60e6, precision: PRECISION });
    for (const [{ latency }, seed] of [
      [a, 7],
      [b, 11],
    ] as const) {
      for (const v of latencies(seed, VALUES_PER_INSTANCE)) {
        latency.record(v);
        merged.record(v);
      }
    }
    await until(
      'sum(app_request_duration_seconds_count)',
      (r) => Number(r[0]?.value[1]) === 2 * VALUES_PER_INSTANCE,
      'the recorded traffic scraped',
    );
    const perInstance = await query(
      'sum by (exported_instance) (app_request_duration_seconds_count)',
    );
    assert.deepEqual(
      perInstance.map((r) => [r.metric.exported_instance, Number(r.value[1])]).sort(),
      [
        ['a', VALUES_PER_INSTANCE],
        ['b', VALUES_PER_INSTANCE],
      ],
    );
    const [result] = await query(
      'histogram_quantile(0.99, sum by (le) (rate(app_request_duration_seconds_bucket[30s])))',
    );
    const fromPrometheus = Number(result?.value[1]);
    const fromHotpath = merged.percentile(99) * 1e-6;
    const relative = Math.abs(fromPrometheus - fromHotpath) / fromHotpath;
    assert.ok(
      relative <= TOLERANCE,
      `Prometheus p99 ${fromPrometheus} s, hotpath ${fromHotpath} s: ${(relative * 100).toFixed(2)} % apart (allowed ${(TOLERANCE * 100).toFixed(1)} %)`,
    );
    console.log(
      `# p99: Prometheus ${fromPrometheus.toFixed(6)} s, hotpath merged ${fromHotpath.toFixed(6)} s, ${(relative * 100).toFixed(2)} % apart`,
    );
  });
});
