/**
 * Request instrumentation cost, three ways, interleaved over rounds:
 *  1. CPU per request of what the Fastify hooks do (in-flight up and down, RequestMetrics
 *     .observe with route template, method, status), vs the same with prom-client (counter
 *     inc with labels, histogram observe with labels, in-flight gauge inc/dec);
 *  2. two Fastify apps on a cached read route, with and without the plugin, in one server
 *     process pinned to core 0 (`taskset`, when present), driven in turn by `hotpath load`
 *     pinned to core 1 (32 connections, closed model): throughput, and the process's CPU time
 *     per request (from /proc) during each app's round, which other load on the machine moves
 *     far less. The order alternates each round; the cost of the plugin is the median of the
 *     per-round differences (paired), with its quartiles. Two server processes run in turn,
 *     building the apps in either order, and their rounds are pooled;
 *  3. the same for three plain `node:http` servers in one process: bare, wrapped by
 *     `instrumentHttp`, and wrapped the usual way (a `close` listener on every response).
 *
 *   npm run bench -- metrics --filter instrumentation
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import diagnostics from 'node:diagnostics_channel';
import { once } from 'node:events';
import { resolve } from 'node:path';
import { RequestMetrics } from 'hotpath/metrics';
import promClient from 'prom-client';
import { hotpathCommand, tsxCommand } from '../lib/commands.js';
import { processCpuTimes } from '../lib/proc.js';
import { interleave, median, printRatios, writeResult } from '../lib/report.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const OPS = 1_000_000;
const SECONDS = Number(process.env.BENCH_SECONDS ?? 2);
const PAIRED_ROUNDS = Number(process.env.BENCH_PAIRED_ROUNDS ?? 16);

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

// What the baseline app of part 2 pays too: with the plugin subscribed anywhere in the
// process, Node builds and publishes two channel messages for every request of every server,
// and the plugin's subscriber returns at once for a server it does not follow.
const channels = ['http.server.request.start', 'http.server.response.finish'].map((name) =>
  diagnostics.channel(`bench.${name}`),
);
const followedServer = {};
const otherServer = {};
const ignore = (message: unknown): void => {
  if ((message as { server: unknown }).server !== followedServer) return;
  throw new Error('not reached');
};
for (const channel of channels) channel.subscribe(ignore);
const sockets = Array.from({ length: 32 }, () => ({}));
const publishNs = median(
  Array.from({ length: ROUNDS }, () => {
    const start = process.hrtime.bigint();
    for (let i = 0; i < OPS; i++) {
      const socket = sockets[i & 31]!;
      for (const channel of channels) {
        if (channel.hasSubscribers) {
          channel.publish({ request: socket, response: socket, socket, server: otherServer });
        }
      }
    }
    return Number(process.hrtime.bigint() - start) / OPS;
  }),
);
for (const channel of channels) channel.unsubscribe(ignore);
console.log(
  `  two channel messages filtered out (paid by both apps in part 2) ${publishNs.toFixed(1)} ns per request`,
);

// ---- 2. Fastify with and without the plugin, paired rounds -------------------------------
const hasTaskset = spawnSync('taskset', ['-c', '0', 'true']).status === 0;
const pinned = (core: number, argv: string[]): [string, string[]] =>
  hasTaskset ? ['taskset', ['-c', String(core), ...argv]] : [argv[0]!, argv.slice(1)];

interface Server {
  child: ChildProcess;
  /** Port of each app the server process serves. */
  ports: Record<string, number>;
}

/** Starts a fixture pinned to core 0; it prints the ports of `apps`, in that order. */
async function startServer(fixture: string, argv: string[], apps: string[]): Promise<Server> {
  const [command, args] = pinned(0, tsxCommand(resolve(import.meta.dirname, fixture), ...argv));
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const ports = await new Promise<number[]>((done, fail) => {
    child.stdout!.once('data', (d: Buffer) => done(d.toString().trim().split(' ').map(Number)));
    child.once('exit', (code) => fail(new Error(`server exited with ${code}`)));
  });
  return { child, ports: Object.fromEntries(apps.map((app, i) => [app, ports[i]!])) };
}

/**
 * Two server processes in turn, each driving its apps in alternating order for half the
 * paired rounds (after a warm-up of each); the rounds of each app, pooled.
 */
async function pairedRounds(
  fixture: string,
  argvs: [string[], string[]],
  apps: string[],
): Promise<Record<string, Round[]>> {
  const rounds: Record<string, Round[]> = Object.fromEntries(apps.map((app) => [app, []]));
  for (const argv of argvs) {
    const server = await startServer(fixture, argv, apps);
    try {
      for (const app of apps) drive(server, app, 2);
      for (let round = 0; round < Math.ceil(PAIRED_ROUNDS / 2); round++) {
        const order = round % 2 === 0 ? apps : [...apps].reverse();
        for (const app of order) rounds[app]!.push(drive(server, app, SECONDS));
      }
    } finally {
      server.child.kill('SIGTERM');
      await once(server.child, 'exit');
    }
  }
  return rounds;
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

/** Drives one app for `seconds` with the load generator; the server's CPU per request. */
function drive(server: Server, app: string, seconds: number): Round {
  const cpuBefore = cpuSeconds(server.child.pid!);
  const [command, args] = pinned(
    1,
    hotpathCommand(
      'load',
      `http://127.0.0.1:${server.ports[app]}/api/payments/42`,
      '-c',
      '32',
      '-d',
      `${seconds}s`,
      '--json',
      '-',
    ),
  );
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

const rounds = (await pairedRounds(
  'server.fixture.ts',
  [['off-first'], ['on-first']],
  ['on', 'off'],
)) as { on: Round[]; off: Round[] };
const on = median(rounds.on.map((r) => r.requestsPerSecond));
const off = median(rounds.off.map((r) => r.requestsPerSecond));
printRatios(
  'cached read route throughput',
  { 'Fastify + hotpath metrics plugin': on, 'Fastify, no instrumentation': off },
  'req/s',
  'Fastify + hotpath metrics plugin',
);
console.log(
  `  difference: ${(((off - on) / off) * 100).toFixed(1)} % (median of ${rounds.on.length} rounds of ${SECONDS} s)`,
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
// ---- 3. plain node:http: instrumentHttp vs a close listener per response ------------------
const httpApps = ['off', 'instrumentHttp', 'close listener'];
const httpRounds = await pairedRounds('http-server.fixture.ts', [[], []], httpApps);
const httpCost = (app: string): [number, number, number] =>
  quartiles(
    httpRounds[app]!.map((r, i) => r.cpuMicrosPerRequest - httpRounds.off![i]!.cpuMicrosPerRequest),
  );
console.log(
  `node:http server CPU per request without instrumentation: ${median(httpRounds.off!.map((r) => r.cpuMicrosPerRequest)).toFixed(2)} us`,
);
for (const app of ['instrumentHttp', 'close listener']) {
  const [low, mid, high] = httpCost(app);
  console.log(
    `  ${app.padEnd(15)} cost (paired rounds) ${(mid * 1000).toFixed(0)} ns, quartiles ` +
      `${(low * 1000).toFixed(0)} to ${(high * 1000).toFixed(0)} ns`,
  );
}

writeResult('metrics-instrumentation', {
  perRequest,
  perRequestNs: Object.fromEntries(Object.entries(perRequestMedians).map(([k, v]) => [k, 1e9 / v])),
  filteredChannelMessagesNs: publishNs,
  method: {
    pinned: hasTaskset,
    pairedRounds: rounds.on.length,
    serverProcesses: 2,
    seconds: SECONDS,
    connections: 32,
  },
  rounds,
  throughput: { on, off },
  differencePercent: ((off - on) / off) * 100,
  serverCpuMicrosPerRequest: { on: cpuOn, off: cpuOff, pluginCost: cost, quartiles: [q1, q3] },
  nodeHttp: {
    rounds: httpRounds,
    costMicros: Object.fromEntries(httpApps.slice(1).map((app) => [app, httpCost(app)])),
  },
});
