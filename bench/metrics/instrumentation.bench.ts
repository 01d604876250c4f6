/**
 * Request instrumentation cost, two ways, interleaved over rounds:
 *  1. CPU per request of what the Fastify hooks do (in-flight up and down, RequestMetrics
 *     .observe with route template, method, status), vs the same with prom-client (counter
 *     inc with labels, histogram observe with labels, in-flight gauge inc/dec);
 *  2. a Fastify server on a cached read route with and without the plugin, each in its own
 *     process pinned to core 0 (`taskset`, when present), driven in turn by `hotpath load`
 *     pinned to core 1 (32 connections, closed model): throughput, and the server's CPU time
 *     per request (from /proc), which other load on the machine moves far less. The order
 *     alternates each round; the cost of the plugin is the median of the per-round
 *     differences (paired), with its quartiles.
 *
 *   npm run bench -- metrics --filter instrumentation
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { RequestMetrics } from 'hotpath/metrics';
import promClient from 'prom-client';
import { processCpuTimes } from '../lib/proc.js';
import { interleave, median, printRatios, writeResult } from '../lib/report.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const OPS = 1_000_000;
const SECONDS = Number(process.env.BENCH_SECONDS ?? 2);
const PAIRED_ROUNDS = Number(process.env.BENCH_PAIRED_ROUNDS ?? 15);

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

// ---- 2. Fastify with and without the plugin, paired rounds -------------------------------
const root = resolve(import.meta.dirname, '..', '..');
const hasTaskset = spawnSync('taskset', ['-c', '0', 'true']).status === 0;
const pinned = (core: number, argv: string[]): [string, string[]] =>
  hasTaskset ? ['taskset', ['-c', String(core), ...argv]] : [argv[0]!, argv.slice(1)];

async function startServer(mode: 'on' | 'off'): Promise<{ child: ChildProcess; port: number }> {
  const [command, args] = pinned(0, [
    process.execPath,
    '--conditions=source',
    '--import',
    'tsx',
    resolve(import.meta.dirname, 'server.fixture.ts'),
    mode,
  ]);
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((done, fail) => {
    child.stdout!.once('data', (d: Buffer) => done(Number(d.toString().trim())));
    child.once('exit', (code) => fail(new Error(`server exited with ${code}`)));
  });
  return { child, port };
}

/** CPU seconds (user + system) a process has used. */
function cpuSeconds(pid: number): number {
  const { user, system } = processCpuTimes(pid);
  return user + system;
}

interface Round {
  requestsPerSecond: number;
  cpuMicrosPerRequest: number;
}

/** Drives one server for `seconds` with the load generator; the server's CPU per request. */
function drive(server: { child: ChildProcess; port: number }, seconds: number): Round {
  const cpuBefore = cpuSeconds(server.child.pid!);
  const [command, args] = pinned(1, [
    process.execPath,
    '--conditions=source',
    '--import',
    'tsx',
    resolve(root, 'cli/main.ts'),
    'load',
    `http://127.0.0.1:${server.port}/api/payments/42`,
    '-c',
    '32',
    '-d',
    `${seconds}s`,
    '--json',
    '-',
  ]);
  const run = spawnSync(command, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  const cpu = cpuSeconds(server.child.pid!) - cpuBefore;
  if (run.status !== 0) throw new Error(`hotpath load failed: ${run.stderr}`);
  const result = JSON.parse(run.stdout) as { completed: number; requestsPerSecond: number };
  return {
    requestsPerSecond: result.requestsPerSecond,
    cpuMicrosPerRequest: (cpu / Math.max(result.completed, 1)) * 1e6,
  };
}

function quartiles(values: readonly number[]): [number, number, number] {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  return [at(0.25), median(sorted), at(0.75)];
}

const servers = { off: await startServer('off'), on: await startServer('on') };
try {
  // Warm both up so the JIT has compiled the route before the timed rounds.
  drive(servers.off, 2);
  drive(servers.on, 2);
  const rounds: { on: Round[]; off: Round[] } = { on: [], off: [] };
  for (let round = 0; round < PAIRED_ROUNDS; round++) {
    const order = round % 2 === 0 ? (['on', 'off'] as const) : (['off', 'on'] as const);
    for (const mode of order) rounds[mode].push(drive(servers[mode], SECONDS));
  }
  const on = median(rounds.on.map((r) => r.requestsPerSecond));
  const off = median(rounds.off.map((r) => r.requestsPerSecond));
  printRatios(
    'cached read route throughput',
    { 'Fastify + hotpath metrics plugin': on, 'Fastify, no instrumentation': off },
    'req/s',
    'Fastify + hotpath metrics plugin',
  );
  console.log(
    `  difference: ${(((off - on) / off) * 100).toFixed(1)} % (median of ${PAIRED_ROUNDS} rounds of ${SECONDS} s)`,
  );
  const cpuOn = median(rounds.on.map((r) => r.cpuMicrosPerRequest));
  const cpuOff = median(rounds.off.map((r) => r.cpuMicrosPerRequest));
  const [q1, cost, q3] = quartiles(
    rounds.on.map((r, i) => r.cpuMicrosPerRequest - rounds.off[i]!.cpuMicrosPerRequest),
  );
  console.log(
    `server CPU per request: with plugin ${cpuOn.toFixed(2)} us, without ${cpuOff.toFixed(2)} us; ` +
      `plugin cost (paired rounds) ${(cost * 1000).toFixed(0)} ns, quartiles ` +
      `${(q1 * 1000).toFixed(0)} to ${(q3 * 1000).toFixed(0)} ns (${((cost / cpuOff) * 100).toFixed(1)} %)`,
  );
  writeResult('metrics-instrumentation', {
    perRequest,
    perRequestNs: Object.fromEntries(
      Object.entries(perRequestMedians).map(([k, v]) => [k, 1e9 / v]),
    ),
    method: { pinned: hasTaskset, pairedRounds: PAIRED_ROUNDS, seconds: SECONDS, connections: 32 },
    rounds,
    throughput: { on, off },
    differencePercent: ((off - on) / off) * 100,
    serverCpuMicrosPerRequest: { on: cpuOn, off: cpuOff, pluginCost: cost, quartiles: [q1, q3] },
  });
} finally {
  for (const { child } of Object.values(servers)) child.kill('SIGTERM');
}
