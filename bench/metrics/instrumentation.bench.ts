/**
 * Request instrumentation cost, two ways, interleaved over rounds:
 *  1. CPU per request of what the Fastify hooks do (in-flight up and down, RequestMetrics
 *     .observe with route template, method, status), vs the same with prom-client (counter
 *     inc with labels, histogram observe with labels, in-flight gauge inc/dec);
 *  2. throughput of a Fastify server on a cached read route with and without the plugin,
 *     the server in a child process driven by autocannon from this one, and the server's
 *     CPU time per request (from /proc), which other load on the machine barely moves.
 *
 *   npm run bench -- metrics --filter instrumentation
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { RequestMetrics } from 'hotpath/metrics';
import promClient from 'prom-client';
import { interleave, median, printRatios, writeResult } from '../lib/report.js';

// autocannon ships no types; this is the one call used.
const autocannon = createRequire(import.meta.url)('autocannon') as (options: {
  url: string;
  connections: number;
  pipelining: number;
  duration: number;
}) => Promise<{ requests: { average: number; total: number } }>;

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const OPS = 1_000_000;
const SECONDS = Number(process.env.BENCH_SECONDS ?? 4);

// ---- 1. CPU per request ---------------------------------------------------------------
const routes = Array.from({ length: 8 }, (_, i) => `/api/resource${i}/:id`);
const methods = ['GET', 'POST'];
const statuses = [200, 200, 200, 201, 404, 500];
const ours = new RequestMetrics({ slowMs: Infinity });
const registry = new promClient.Registry();
const labelNames = ['method', 'route', 'status_code'];
const promRequests = new promClient.Counter({
  name: 'req_total',
  help: 'h',
  labelNames,
  registers: [registry],
});
const promLatency = new promClient.Histogram({
  name: 'req_seconds',
  help: 'h',
  labelNames,
  registers: [registry],
});
const promInFlight = new promClient.Gauge({ name: 'in_flight', help: 'h', registers: [registry] });

const recorders = routes.flatMap((r) => methods.map((m) => ours.route(m, r)));
const perRequest = await interleave(
  {
    'hotpath RouteRecorder (Fastify path)': () => {
      const start = process.hrtime.bigint();
      for (let i = 0; i < OPS; i++) {
        ours.inFlight++;
        ours.inFlight--;
        recorders[i & 15]!.observe(statuses[i % 6]!, 0.25 + (i & 255) * 0.01);
      }
      return OPS / (Number(process.hrtime.bigint() - start) / 1e9);
    },
    'hotpath RequestMetrics.observe': () => {
      const start = process.hrtime.bigint();
      for (let i = 0; i < OPS; i++) {
        ours.inFlight++;
        ours.inFlight--;
        ours.observe(methods[i & 1]!, routes[i & 7]!, statuses[i % 6]!, 0.25 + (i & 255) * 0.01);
      }
      return OPS / (Number(process.hrtime.bigint() - start) / 1e9);
    },
    'prom-client counter+histogram+gauge': () => {
      const n = OPS / 10;
      const start = process.hrtime.bigint();
      for (let i = 0; i < n; i++) {
        promInFlight.inc();
        promInFlight.dec();
        const labels = {
          method: methods[i & 1]!,
          route: routes[i & 7]!,
          status_code: statuses[i % 6]!,
        };
        promRequests.inc(labels);
        promLatency.observe(labels, (0.25 + (i & 255) * 0.01) / 1000);
      }
      return n / (Number(process.hrtime.bigint() - start) / 1e9);
    },
  },
  ROUNDS,
);
const perRequestMedians = Object.fromEntries(
  Object.entries(perRequest).map(([k, v]) => [k, v.median]),
);
printRatios(
  'instrumentation CPU per request',
  perRequestMedians,
  'req/s',
  'hotpath RouteRecorder (Fastify path)',
);
for (const [name, ops] of Object.entries(perRequestMedians)) {
  console.log(`  ${name.padEnd(36)} ${(1e9 / ops).toFixed(1)} ns per request`);
}
await ours.close();

// ---- 2. Fastify throughput with and without the plugin --------------------------------
async function startServer(mode: 'on' | 'off'): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(
    process.execPath,
    [
      '--conditions=source',
      '--import',
      'tsx',
      resolve(import.meta.dirname, 'server.fixture.ts'),
      mode,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const port = await new Promise<number>((done, fail) => {
    child.stdout!.once('data', (d: Buffer) => done(Number(d.toString().trim())));
    child.once('exit', (code) => fail(new Error(`server exited with ${code}`)));
  });
  return { child, port };
}

/** CPU seconds (user + system) a process has used, from /proc (Linux). */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  // utime and stime are fields 14 and 15 of stat, 12 and 13 after the command name.
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

const cpuPerRequest: Record<string, number[]> = {};

async function drive(name: string, server: { child: ChildProcess; port: number }): Promise<number> {
  const cpuBefore = cpuSeconds(server.child.pid!);
  const result = await autocannon({
    url: `http://127.0.0.1:${server.port}/api/payments/42`,
    connections: 32,
    pipelining: 1,
    duration: SECONDS,
  });
  const cpu = cpuSeconds(server.child.pid!) - cpuBefore;
  (cpuPerRequest[name] ??= []).push((cpu / result.requests.total) * 1e6);
  return result.requests.average;
}

const servers = { off: await startServer('off'), on: await startServer('on') };
try {
  // Warm both up so the JIT has compiled the route before the timed rounds.
  await drive('warm-up', servers.off);
  await drive('warm-up', servers.on);
  const throughput = await interleave(
    {
      'Fastify + hotpath metrics plugin': () => drive('on', servers.on),
      'Fastify, no instrumentation': () => drive('off', servers.off),
    },
    ROUNDS,
  );
  const medians = Object.fromEntries(Object.entries(throughput).map(([k, v]) => [k, v.median]));
  printRatios('cached read route throughput', medians, 'req/s', 'Fastify + hotpath metrics plugin');
  const on = medians['Fastify + hotpath metrics plugin']!;
  const off = medians['Fastify, no instrumentation']!;
  console.log(
    `  difference: ${(((off - on) / off) * 100).toFixed(1)} % (median of ${ROUNDS} rounds of ${SECONDS} s)`,
  );
  const cpuOn = median(cpuPerRequest.on!);
  const cpuOff = median(cpuPerRequest.off!);
  console.log(
    `server CPU per request (robust to other load): with plugin ${cpuOn.toFixed(2)} us, ` +
      `without ${cpuOff.toFixed(2)} us, instrumentation ${((cpuOn - cpuOff) * 1000).toFixed(0)} ns ` +
      `(${(((cpuOn - cpuOff) / cpuOff) * 100).toFixed(1)} %)`,
  );
  writeResult('metrics-instrumentation', {
    perRequest,
    perRequestNs: Object.fromEntries(
      Object.entries(perRequestMedians).map(([k, v]) => [k, 1e9 / v]),
    ),
    throughput,
    differencePercent: ((off - on) / off) * 100,
    serverCpuMicrosPerRequest: { on: cpuOn, off: cpuOff, rounds: cpuPerRequest },
  });
} finally {
  for (const { child } of Object.values(servers)) child.kill('SIGTERM');
}
