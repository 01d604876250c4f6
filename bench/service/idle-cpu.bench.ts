/**
 * What the payments service costs with no request at all, in CPU milliseconds per second.
 * Under the overhead bench (bench/service/overhead.bench.ts) this CPU is charged to the
 * requests: at 5,000 requests/s, 1 ms of CPU per second is 0.2 µs per request, so the fewer
 * requests a process answers, the more it weighs (docs/scale.md, CPU per request behind
 * HAProxy).
 *
 * Two sections (IDLE_CPU=parts, service or all):
 *
 * - parts: each metrics part alone in a child process, configured as
 *   service/plugins/observability.ts configures it, all of them idling side by side. `none` is
 *   a process with no part.
 * - service: the whole service (service/main.ts on DATABASE_URL or TEST_DATABASE_URL and
 *   REDIS_URL or TEST_REDIS_URL, one shared gateway simulator), once as it runs and once per
 *   group of periodic sources turned off, all idling side by side. A source is turned off by
 *   a preload that makes the timers created at its lines never fire, so no code changes; what
 *   the service costs less without it is what it costs. It also lists every timer that fired
 *   in the idle service, by the line that created it.
 *
 * CPU is each process's on-CPU time (all threads) from /proc/<pid>/task/<tid>/schedstat
 * (nanoseconds), over the same window, after a warm-up.
 *
 *   npm run bench -- service --filter idle-cpu
 *   eval "$(bash scripts/services.sh env)" && ROUNDS=3 npm run bench -- service --filter idle-cpu
 *   IDLE_CPU=service SERVICE_WINDOW_S=20 npm run bench -- service --filter idle-cpu
 *
 * Needs Linux (/proc).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import {
  Dashboard,
  LeakDetector,
  MetricsRegistry,
  RequestMetrics,
  RuntimeMetrics,
  SloMonitor,
} from 'hotpath/metrics';
import { tsxCommand } from '../lib/commands.js';
import { environment, median, writeResult } from '../lib/report.js';

const ROUNDS = Number(process.env.ROUNDS ?? 3);
const WINDOW_S = Number(process.env.WINDOW_S ?? 10);
const WARMUP_S = Number(process.env.WARMUP_S ?? 3);
/** What the run found, by section; written to bench/results/service-idle-cpu.json. */
const output: Record<string, unknown> = {};
/** `parts`, `service` or `all` (both). */
const SET = process.env.IDLE_CPU ?? 'all';
/** The service's own idle sources are measured over a longer window: /proc counts 10 ms ticks. */
const SERVICE_WINDOW_S = Number(process.env.SERVICE_WINDOW_S ?? 20);
const SERVICE_WARMUP_S = Number(process.env.SERVICE_WARMUP_S ?? 10);

/** The parts, each as the service sets it up (service/plugins/observability.ts). */
const parts: Record<string, string> = {
  none: 'a process with no part',
  requests: 'RequestMetrics (history rotation each second)',
  runtime: 'RuntimeMetrics (event-loop delay sampled every 10 ms, GC observer)',
  slo: "SloMonitor with the service's two rules, evaluated each second",
  leaks: 'LeakDetector',
  dashboard: 'Dashboard with the request, runtime and SLO panels, sampled each second',
  all: 'all of the above, as the service runs them',
};

function start(part: string): void {
  const registry = new MetricsRegistry();
  const has = (name: string) => part === name || part === 'all';
  const needsRequests = part !== 'none' && part !== 'runtime' && part !== 'leaks';
  const requests = needsRequests ? new RequestMetrics({ registry, slowMs: 500 }) : undefined;
  const runtime = has('runtime') || has('dashboard') ? new RuntimeMetrics({ registry }) : undefined;
  const slo =
    requests !== undefined && (has('slo') || has('dashboard'))
      ? new SloMonitor({
          requests,
          rules: ['p99 < 200ms over 1m', 'error_rate < 1% over 1m'],
          minRequests: 20,
        })
      : undefined;
  if (has('leaks')) new LeakDetector({ registry });
  if (has('dashboard'))
    new Dashboard({
      ...(requests === undefined ? {} : { requests }),
      ...(runtime === undefined ? {} : { runtime }),
      ...(slo === undefined ? {} : { slo }),
    });
  // The parts' timers are unref'd: this keeps the process alive as a server would.
  setInterval(() => {}, 60_000);
  console.log('ready');
}

async function spawnPart(part: string): Promise<ChildProcess> {
  const [command, ...args] = tsxCommand('bench/service/idle-cpu.bench.ts', 'child', part);
  const child = spawn(command!, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! });
  const [line] = (await once(lines, 'line')) as [string];
  if (line !== 'ready') throw new Error(`${part}: ${line}`);
  return child;
}

function cpuMs(pid: number): number {
  return schedCpuMs(pid);
}

async function measureParts(): Promise<void> {
  const samples: Record<string, number[]> = Object.fromEntries(
    Object.keys(parts).map((p) => [p, []]),
  );
  for (let round = 0; round < ROUNDS; round++) {
    const children = await Promise.all(
      Object.keys(parts).map(async (p) => [p, await spawnPart(p)] as const),
    );
    await new Promise((resolve) => setTimeout(resolve, WARMUP_S * 1000));
    const before = children.map(([, c]) => cpuMs(c.pid!));
    const started = performance.now();
    await new Promise((resolve) => setTimeout(resolve, WINDOW_S * 1000));
    const seconds = (performance.now() - started) / 1000;
    children.forEach(([p, c], i) => samples[p]!.push((cpuMs(c.pid!) - before[i]!) / seconds));
    for (const [, c] of children) c.kill('SIGKILL');
  }
  const env = environment();
  console.log(
    `idle CPU of the service's metrics parts, ms per second, medians of ${ROUNDS} rounds of ${WINDOW_S} s (node ${env.node}, ${env.cpu}, ${env.cores} cores)`,
  );
  const result: Record<string, { what: string; msPerSecond: number; rounds: number[] }> = {};
  const base = median(samples.none!);
  for (const [part, what] of Object.entries(parts)) {
    const ms = median(samples[part]!);
    result[part] = { what, msPerSecond: ms, rounds: samples[part]! };
    const over = part === 'none' ? '' : `  (${(ms - base).toFixed(2)} over none)`;
    console.log(`  ${part.padEnd(10)} ${ms.toFixed(2).padStart(6)} ms/s${over}   [${what}]`);
  }
  output.parts = { rounds: ROUNDS, windowSeconds: WINDOW_S, parts: result };
}

/**
 * Loaded with `--import` into each service process: timers created at a source line that
 * contains one of HOTPATH_IDLE_OFF's comma-separated patterns never fire (an unref'd timer of
 * 2^31-1 ms stands in), and with HOTPATH_IDLE_COUNT=<file prefix>,<warm-up ms>,<window ms> the
 * process writes how often each creation site's timers fired in the window to
 * `<prefix>.<pid>.json`. Only the service section uses it; the timers' owners are not changed.
 */
const PRELOAD = String.raw`
import { syncBuiltinESMExports } from 'node:module';
import timers from 'node:timers';
import { writeFileSync } from 'node:fs';
const off = (process.env.HOTPATH_IDLE_OFF ?? '').split(',').filter(Boolean);
const count = process.env.HOTPATH_IDLE_COUNT;
const sites = new Map();
const root = process.cwd() + '/';
const original = { setInterval: globalThis.setInterval, setTimeout: globalThis.setTimeout };
function site() {
  for (const line of (new Error().stack ?? '').split('\n').slice(3)) {
    if (line.includes('node:') || line.includes('data:text')) continue;
    const m = /((?:file:\/\/)?\/[^():\s]+):(\d+):\d+\)?\s*$/.exec(line);
    if (m === null) continue;
    let file = m[1].replace('file://', '');
    if (file.includes('/node_modules/')) file = file.replace(/.*\/node_modules\//, '');
    else if (file.startsWith(root)) file = file.slice(root.length);
    return file + ':' + m[2];
  }
  return 'unknown';
}
for (const name of ['setInterval', 'setTimeout']) {
  const set = original[name];
  const wrapped = function (fn, ms, ...args) {
    if (typeof fn !== 'function') return set.call(this, fn, ms, ...args);
    const at = site();
    if (off.some((o) => at.includes(o))) {
      const t = original.setTimeout(() => {}, 2 ** 31 - 1);
      t.unref();
      t.ref = () => t;
      return t;
    }
    if (count === undefined) return set.call(this, fn, ms, ...args);
    const key = name + ' ' + at;
    let c = sites.get(key);
    if (c === undefined) sites.set(key, (c = { timer: name, site: at, ms, fires: 0 }));
    return set.call(this, function (...a) { c.fires++; return fn.apply(this, a); }, ms, ...args);
  };
  globalThis[name] = wrapped;
  timers[name] = wrapped;
}
syncBuiltinESMExports();
if (count !== undefined) {
  const [prefix, warmMs, windowMs] = count.split(',');
  original.setTimeout(() => {
    for (const c of sites.values()) c.fires = 0;
    original.setTimeout(() => writeFileSync(prefix + '.' + process.pid + '.json',
      JSON.stringify([...sites.values()].filter((c) => c.fires > 0))), Number(windowMs)).unref();
  }, Number(warmMs)).unref();
}
`;

/**
 * The service's periodic sources, each turned off by the patterns of the lines that create its
 * timers (the preload above), measured against the whole service.
 */
const serviceSources: Record<string, { what: string; off: string[] }> = {
  all: { what: 'the service as `npm start` runs it (SHEDDING=on)', off: [] },
  'runtime-metrics': {
    what: "RuntimeMetrics' timers: the event-loop delay sampler (10 ms)",
    off: ['src/metrics/runtime-metrics.ts', 'src/metrics/loop-delay-sampler.ts'],
  },
  shedding: {
    what: "the load shedder's event-loop sampler (10 ms) and its update (100 ms)",
    off: ['src/resilience/shed-sampler.ts', 'src/resilience/load-shedder.ts'],
  },
  'every 1 s': {
    what: 'RequestMetrics rotation, SloMonitor evaluation, Dashboard frames (1 s each)',
    off: ['src/metrics/request-metrics.ts', 'src/metrics/slo.ts', 'src/metrics/dashboard.ts'],
  },
  'every 5 s': {
    what: 'readiness poll and reconciler sweep (5 s each)',
    off: ['service/readiness.ts', 'service/payments/reconciler.ts'],
  },
};
serviceSources['both 10 ms'] = {
  what: 'both 10 ms samplers (runtime metrics and shedding)',
  off: [...serviceSources['runtime-metrics']!.off, ...serviceSources.shedding!.off],
};
serviceSources.none = {
  what: 'every source above: the process, its pools and sockets',
  off: Object.values(serviceSources).flatMap((s) => s.off),
};

/**
 * CPU milliseconds a process has run, all threads, from the scheduler's nanosecond counters
 * (/proc/<pid>/task/<tid>/schedstat): /proc/<pid>/stat counts 10 ms ticks, too coarse for a
 * few milliseconds per second.
 */
function schedCpuMs(pid: number): number {
  let ns = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // a thread that ended
    }
  }
  return ns / 1e6;
}

async function portOpen(port: number): Promise<boolean> {
  return new Promise((done) => {
    const socket = createConnection(port, '127.0.0.1', () => {
      socket.end();
      done(true);
    }).on('error', () => done(false));
  });
}

async function ready(url: string, child: ChildProcess, name: string): Promise<void> {
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode}`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${name}: not ready after 120 s`);
}

async function measureService(): Promise<void> {
  const databaseUrl = process.env.DATABASE_URL ?? process.env.TEST_DATABASE_URL;
  const redisUrl = process.env.REDIS_URL ?? process.env.TEST_REDIS_URL;
  if (databaseUrl === undefined || redisUrl === undefined) {
    console.log(
      'idle CPU of the service: skipped, needs DATABASE_URL and REDIS_URL (eval "$(bash scripts/services.sh env)" sets TEST_DATABASE_URL and TEST_REDIS_URL)',
    );
    return;
  }
  const preload = `data:text/javascript,${encodeURIComponent(PRELOAD)}`;
  const basePort = Number(process.env.IDLE_PORT ?? 29100);
  const names = Object.keys(serviceSources);
  const samples: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
  const gatewaySamples: number[] = [];
  let inventory: { timer: string; site: string; ms: number; fires: number }[] = [];
  const countPrefix = join(tmpdir(), `hotpath-idle-${process.pid}`);
  const env = { ...process.env, DATABASE_URL: databaseUrl, REDIS_URL: redisUrl, LOG_LEVEL: 'warn' };
  for (let round = 0; round < ROUNDS; round++) {
    const gatewayPort = basePort;
    const [gwCommand, ...gwArgs] = tsxCommand('service/gateway/main.ts');
    const gateway = spawn(gwCommand!, gwArgs, {
      stdio: 'ignore',
      env: { ...env, GATEWAY_PORT: String(gatewayPort), GATEWAY_HOST: '127.0.0.1' },
    });
    const children: [string, ChildProcess][] = [];
    try {
      while (!(await portOpen(gatewayPort))) {
        if (gateway.exitCode !== null)
          throw new Error(`gateway simulator exited with ${gateway.exitCode}`);
        await new Promise((r) => setTimeout(r, 250));
      }
      // One at a time: starting them all at once on a shared 2-core machine stalls them all.
      for (const [i, name] of names.entries()) {
        const port = basePort + 1 + i;
        const [command, ...args] = tsxCommand('service/main.ts');
        args.splice(args.indexOf('--import') + 2, 0, '--import', preload);
        const child = spawn(command!, args, {
          stdio: ['ignore', 'ignore', 'inherit'],
          env: {
            ...env,
            PORT: String(port),
            GATEWAY_URL: `http://127.0.0.1:${gatewayPort}`,
            HOTPATH_IDLE_OFF: serviceSources[name]!.off.join(','),
            ...(name === 'all' && round === 0
              ? {
                  HOTPATH_IDLE_COUNT: `${countPrefix},${SERVICE_WARMUP_S * 1000},${SERVICE_WINDOW_S * 1000}`,
                }
              : {}),
          },
        });
        children.push([name, child]);
        await ready(`http://127.0.0.1:${port}/health/ready`, child, name);
      }
      await new Promise((r) => setTimeout(r, SERVICE_WARMUP_S * 1000));
      const pids = [...children.map(([, c]) => c.pid!), gateway.pid!];
      const before = pids.map(schedCpuMs);
      const started = performance.now();
      await new Promise((r) => setTimeout(r, SERVICE_WINDOW_S * 1000));
      const seconds = (performance.now() - started) / 1000;
      pids.forEach((pid, i) => {
        const rate = (schedCpuMs(pid) - before[i]!) / seconds;
        if (i < children.length) samples[children[i]![0]]!.push(rate);
        else gatewaySamples.push(rate);
      });
      if (round === 0) {
        const file = `${countPrefix}.${children[0]![1].pid}.json`;
        await new Promise((r) => setTimeout(r, 1000));
        inventory = JSON.parse(readFileSync(file, 'utf8')) as typeof inventory;
        rmSync(file, { force: true });
      }
    } finally {
      for (const [, c] of children) c.kill('SIGKILL');
      gateway.kill('SIGKILL');
    }
  }
  const info = environment();
  console.log(
    `idle CPU of one service instance (PostgreSQL + Redis, gateway simulator apart), ms per second, medians of ${ROUNDS} rounds of ${SERVICE_WINDOW_S} s, all processes side by side (node ${info.node}, ${info.cpu}, ${info.cores} cores)`,
  );
  const all = median(samples.all!);
  const result: Record<string, { what: string; msPerSecond: number; rounds: number[] }> = {};
  for (const name of names) {
    const ms = median(samples[name]!);
    result[name] = { what: serviceSources[name]!.what, msPerSecond: ms, rounds: samples[name]! };
    const saves = name === 'all' ? '' : `  (${(all - ms).toFixed(2)} less than all: what it costs)`;
    console.log(
      `  ${name.padEnd(16)} ${ms.toFixed(2).padStart(6)} ms/s${saves}   [${name === 'all' ? '' : 'off: '}${serviceSources[name]!.what}]`,
    );
  }
  const gatewayMs = median(gatewaySamples);
  console.log(`  gateway simulator (its own process) ${gatewayMs.toFixed(2)} ms/s`);
  inventory.sort((a, b) => b.fires - a.fires);
  console.log(`  timers that fired in an idle instance (round 1, ${SERVICE_WINDOW_S} s):`);
  for (const t of inventory) {
    console.log(
      `    ${(t.fires / SERVICE_WINDOW_S).toFixed(1).padStart(6)}/s  ${t.timer}(..., ${t.ms})  ${t.site}`,
    );
  }
  output.service = {
    rounds: ROUNDS,
    windowSeconds: SERVICE_WINDOW_S,
    sources: result,
    gatewayMsPerSecond: gatewayMs,
    gatewayRounds: gatewaySamples,
    timers: inventory.map((t) => ({ ...t, perSecond: t.fires / SERVICE_WINDOW_S })),
  };
}

if (process.argv[2] === 'child') start(process.argv[3] ?? 'none');
else {
  if (SET !== 'service') await measureParts();
  if (SET !== 'parts') await measureService();
  writeResult('service-idle-cpu', output);
}
