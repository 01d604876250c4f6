/**
 * What the payments service's metrics parts cost with no request at all: their timers and
 * observers, in CPU milliseconds per second. Under the overhead bench
 * (bench/service/overhead.bench.ts) this CPU is charged to the requests: at 5,000 requests/s,
 * 1 ms of CPU per second is 0.2 µs per request, so the fewer requests a shared machine lets
 * the service answer, the more it weighs.
 *
 * Each part runs alone in a child process, configured as service/plugins/observability.ts
 * configures it, and all of them idle side by side; each child's CPU (all threads) comes
 * from /proc over the same window, after a warm-up. `none` is a process with no part.
 *
 *   npm run bench -- service --filter idle-cpu
 *   ROUNDS=3 WINDOW_S=10 npm run bench -- service --filter idle-cpu
 *
 * Needs Linux (/proc).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
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
import { processCpuTimes } from '../lib/proc.js';
import { environment, median, writeResult } from '../lib/report.js';

const ROUNDS = Number(process.env.ROUNDS ?? 3);
const WINDOW_S = Number(process.env.WINDOW_S ?? 10);
const WARMUP_S = Number(process.env.WARMUP_S ?? 3);

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
  const t = processCpuTimes(pid);
  return (t.user + t.system) * 1000;
}

async function main(): Promise<void> {
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
  writeResult('service-idle-cpu', { rounds: ROUNDS, windowSeconds: WINDOW_S, parts: result });
}

if (process.argv[2] === 'child') start(process.argv[3] ?? 'none');
else await main();
