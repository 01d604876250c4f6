/**
 * Requests per generator CPU-second: hotpath load vs autocannon vs wrk (and a closed loop on
 * undici, the transport hotpath load could have used instead of raw sockets), against the same
 * trivial node:http server on 127.0.0.1.
 *
 * Method. The target runs pinned to core 0 (`taskset -c 0`) and counts the requests it serves;
 * each generator runs pinned to core 1 (`taskset -c 1`), closed model, 50 keep-alive
 * connections, for 8 s. Once its first requests reach the server and one more second has
 * passed (start-up, JIT and connection set-up excluded) the bench reads the generator's CPU
 * time (utime + stime of all its threads, /proc/<pid>/stat) and the server's served count,
 * and reads both again 4 s later. The figure is served requests
 * divided by generator CPU-seconds over that window: steadier than wall-clock req/s on a
 * shared machine, since time the generator spends descheduled costs it nothing. Rounds are
 * interleaved (hotpath, autocannon, wrk, undici, hotpath, ...) and medians reported with ratios.
 *
 * hotpath also runs twice more in the same rounds with response checks (request mixes in
 * bench/load/): a status check (no body read) and a status plus JSON-path check (bodies
 * captured and parsed; the server answers /json with `{"status":"ok"}`), to price checks
 * against the plain run and the same rivals. Every run keeps per-name statistics.
 *
 * With BASELINE=<another checkout of hotpath> (its node_modules installed or linked), that
 * checkout's `hotpath load` runs in the same rounds as "hotpath load (baseline)": a before and
 * after of a change, measured under the same machine load.
 *
 * A second table measures the open model's cost of keeping a fixed schedule: CPU-seconds per
 * 1000 requests at 2000 req/s, hotpath (timer-driven) vs autocannon -R (its rate limiter).
 *
 *   npm run bench -- load            (ROUNDS=5 by default; set ROUNDS to change)
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { hotpathCommand, tsxCommand } from '../lib/commands.js';
import { CPU_TICK_SECONDS, processCpuTimes } from '../lib/proc.js';
import { environment, median, printRatios, writeResult } from '../lib/report.js';

const root = resolve(import.meta.dirname, '..', '..');
const ROUNDS = Number(process.env.ROUNDS ?? 5);
const CONNECTIONS = 50;
const RUN_S = 8;
const SKIP_MS = 1000;
const WINDOW_MS = 4000;

// Counts requests; between 'mark' and 'peak' it also counts arrivals per 10 ms, to tell a
// smooth schedule from one burst per second.
const SERVER = `
const { createServer } = require('node:http');
let served = 0;
let marked = -1;
let buckets = [];
const server = createServer((req, res) => {
  served++;
  if (marked >= 0) {
    const b = Math.floor((performance.now() - marked) / 10);
    buckets[b] = (buckets[b] || 0) + 1;
  }
  res.end(req.url === '/json' ? '{"status":"ok"}' : 'hello world');
});
server.keepAliveTimeout = 60000;
server.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }));
process.on('message', (m) => {
  if (m === 'count') process.send({ served });
  else if (m === 'mark') { marked = performance.now(); buckets = []; }
  else if (m === 'peak') {
    let peak = 0, sum = 0;
    const n = Math.floor(buckets.length / 10) * 10;
    for (let i = 0; i < n; i++) sum += buckets[i] || 0;
    for (let i = 0; i + 10 <= n; i++) {
      let w = 0;
      for (let j = i; j < i + 10; j++) w += buckets[j] || 0;
      peak = Math.max(peak, w);
    }
    marked = -1;
    process.send({ peak, mean: n > 0 ? sum / (n / 10) : 0 });
  }
});
`;

interface Target {
  url: string;
  child: ChildProcess;
  served(): Promise<number>;
  /** Starts counting arrivals per 10 ms. */
  mark(): void;
  /** Busiest 100 ms since mark(), and the mean per 100 ms. */
  peak(): Promise<{ peak: number; mean: number }>;
}

async function startTarget(): Promise<Target> {
  const child = spawn('taskset', ['-c', '0', process.execPath, '-e', SERVER], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const [msg] = (await once(child, 'message')) as [{ port: number }];
  return {
    url: `http://127.0.0.1:${msg.port}/`,
    child,
    served: async () => {
      child.send('count');
      for (;;) {
        const [m] = (await once(child, 'message')) as [{ served?: number }];
        if (m.served !== undefined) return m.served;
      }
    },
    mark: () => child.send('mark'),
    peak: async () => {
      child.send('peak');
      for (;;) {
        const [m] = (await once(child, 'message')) as [{ peak?: number; mean: number }];
        if (m.peak !== undefined) return { peak: m.peak, mean: m.mean };
      }
    },
  };
}

type Command = (url: string) => string[];

const generators: Record<string, Command> = {
  'hotpath load': (url) =>
    hotpathCommand('load', url, '-c', String(CONNECTIONS), '-d', `${RUN_S}s`),
  autocannon: (url) => [
    process.execPath,
    resolve(root, 'node_modules/autocannon/autocannon.js'),
    '-c',
    String(CONNECTIONS),
    '-d',
    String(RUN_S),
    url,
  ],
  wrk: (url) => ['wrk', '-t1', `-c${CONNECTIONS}`, `-d${RUN_S}s`, url],
  // The same closed loop on undici instead of raw sockets (the alternative transport).
  'undici loop': (url) =>
    tsxCommand('bench/load/undici-loop.ts', url, String(CONNECTIONS), String(RUN_S)),
  'hotpath, status check': (url) => [
    ...generators['hotpath load']!(url),
    '--requests',
    resolve(root, 'bench/load/mix-status-check.json'),
  ],
  'hotpath, JSON check': (url) => [
    ...generators['hotpath load']!(url),
    '--requests',
    resolve(root, 'bench/load/mix-json-check.json'),
  ],
};

const baseline = process.env.BASELINE;
if (baseline !== undefined && baseline !== '') {
  generators['hotpath load (baseline)'] = (url) => [
    process.execPath,
    '--conditions=source',
    '--import',
    'tsx',
    resolve(baseline, 'cli/main.ts'),
    'load',
    url,
    '-c',
    String(CONNECTIONS),
    '-d',
    `${RUN_S}s`,
  ];
}

const fixedRate: Record<string, Command> = {
  'hotpath load --rate 2000': (url) => [...generators['hotpath load']!(url), '--rate', '2000'],
  'autocannon -R 2000': (url) => [...generators.autocannon!(url), '-R', '2000'],
};

interface Sample {
  requestsPerCpuSecond: number;
  /** Generator CPU per served request in user space and in the kernel, microseconds. */
  userMicrosPerRequest: number;
  kernelMicrosPerRequest: number;
  cpuFraction: number;
  requestsPerSecond: number;
  /** Busiest 100 ms of the window over the mean 100 ms (1 = perfectly even). */
  burstiness: number;
}

async function measure(target: Target, command: string[]): Promise<Sample> {
  const before = await target.served();
  const child = spawn('taskset', ['-c', '1', ...command], { stdio: 'ignore' });
  const exited = once(child, 'exit');
  // Start-up (tsx compiles the CLI on a cold cache) is not measured: wait until the
  // generator's traffic reaches the server, then one more second for JIT and connections.
  const started = performance.now();
  while ((await target.served()) === before && performance.now() - started < 10_000)
    await sleep(20);
  await sleep(SKIP_MS);
  const cpu0 = processCpuTimes(child.pid!);
  const served0 = await target.served();
  target.mark();
  const t0 = performance.now();
  await sleep(WINDOW_MS);
  const cpu1 = processCpuTimes(child.pid!);
  const served1 = await target.served();
  const { peak, mean } = await target.peak();
  const wall = (performance.now() - t0) / 1000;
  await exited;
  const requests = served1 - served0;
  const user = cpu1.user - cpu0.user;
  const system = cpu1.system - cpu0.system;
  return {
    requestsPerCpuSecond: requests / Math.max(user + system, CPU_TICK_SECONDS),
    userMicrosPerRequest: (user / Math.max(requests, 1)) * 1e6,
    kernelMicrosPerRequest: (system / Math.max(requests, 1)) * 1e6,
    cpuFraction: (user + system) / wall,
    requestsPerSecond: requests / wall,
    burstiness: mean > 0 ? peak / mean : 0,
  };
}

async function interleaved(
  target: Target,
  set: Record<string, Command>,
): Promise<Record<string, Sample[]>> {
  const samples: Record<string, Sample[]> = Object.fromEntries(
    Object.keys(set).map((k) => [k, []]),
  );
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, command] of Object.entries(set)) {
      const s = await measure(target, command(target.url));
      samples[name]!.push(s);
      console.log(
        `  round ${round + 1} ${name.padEnd(26)} ${s.requestsPerCpuSecond.toFixed(0).padStart(7)} req/CPU-s  ${s.requestsPerSecond.toFixed(0).padStart(6)} req/s  CPU ${(s.cpuFraction * 100).toFixed(0)}% (user ${s.userMicrosPerRequest.toFixed(1)} + kernel ${s.kernelMicrosPerRequest.toFixed(1)} µs/req)  burst ${s.burstiness.toFixed(2)}`,
      );
    }
  }
  return samples;
}

const target = await startTarget();
try {
  console.log(
    `target ${target.url} on core 0; generators on core 1; ${ROUNDS} rounds, ${CONNECTIONS} connections`,
  );
  const closed = await interleaved(target, generators);
  const perCpu = Object.fromEntries(
    Object.entries(closed).map(([k, s]) => [k, median(s.map((x) => x.requestsPerCpuSecond))]),
  );
  console.log('');
  printRatios(
    'requests per generator CPU-second (closed model, median)',
    perCpu,
    'req/CPU-s',
    'hotpath load',
  );
  console.log('\ngenerator CPU per request, user space + kernel (closed model, medians)');
  for (const [k, samples] of Object.entries(closed)) {
    const user = median(samples.map((x) => x.userMicrosPerRequest));
    const kernel = median(samples.map((x) => x.kernelMicrosPerRequest));
    console.log(`  ${k.padEnd(14)} ${user.toFixed(2)} + ${kernel.toFixed(2)} µs`);
  }
  const rate = await interleaved(target, fixedRate);
  const cpuPerK = Object.fromEntries(
    Object.entries(rate).map(([k, s]) => [
      k,
      median(s.map((x) => (x.cpuFraction / x.requestsPerSecond) * 1000)),
    ]),
  );
  const burst = Object.fromEntries(
    Object.entries(rate).map(([k, s]) => [k, median(s.map((x) => x.burstiness))]),
  );
  console.log(
    '\nfixed 2000 req/s (medians): CPU-seconds per 1000 requests (lower is cheaper), and the busiest\n100 ms over the mean 100 ms at the server (1.0 = even arrivals, 10 = one burst per second)',
  );
  for (const [k, v] of Object.entries(cpuPerK)) {
    console.log(`  ${k.padEnd(26)} ${v.toFixed(4)} CPU-s   burstiness ${burst[k]!.toFixed(2)}`);
  }
  const wrk = perCpu.wrk!;
  const ac = perCpu.autocannon!;
  const ours = perCpu['hotpath load']!;
  const undici = perCpu['undici loop']!;
  console.log(
    `\ngoals: >= 0.70x wrk: ${(ours / wrk).toFixed(2)}x; >= 1.60x autocannon: ${(ours / ac).toFixed(2)}x; raw sockets vs undici: ${(ours / undici).toFixed(2)}x`,
  );
  const checks: Record<string, { vsPlain: number; vsWrk: number; vsAutocannon: number }> = {};
  const variants = ['hotpath, status check', 'hotpath, JSON check'];
  if (perCpu['hotpath load (baseline)'] !== undefined) variants.push('hotpath load (baseline)');
  for (const k of variants) {
    const v = perCpu[k]!;
    checks[k] = { vsPlain: v / ours, vsWrk: v / wrk, vsAutocannon: v / ac };
    console.log(
      `${k}: ${(v / ours).toFixed(2)}x plain hotpath, ${(v / wrk).toFixed(2)}x wrk, ${(v / ac).toFixed(2)}x autocannon`,
    );
  }
  writeResult('load-generators', {
    environment: environment(),
    method: {
      connections: CONNECTIONS,
      runSeconds: RUN_S,
      skipMs: SKIP_MS,
      windowMs: WINDOW_MS,
      rounds: ROUNDS,
    },
    closed,
    perCpuMedian: perCpu,
    ratios: { vsWrk: ours / wrk, vsAutocannon: ours / ac, vsUndici: ours / undici },
    checks,
    fixedRate: rate,
    cpuPerThousandAt2000: cpuPerK,
    burstinessAt2000: burst,
  });
} finally {
  target.child.kill();
}
