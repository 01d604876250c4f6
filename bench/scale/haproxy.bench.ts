/**
 * CPU per request of the payments service behind HAProxy with 2 instances vs one instance
 * reached directly, same run, same open-model arrival rate, interleaved rounds. The instances'
 * CPU (user + system, from /proc/<pid>/stat) is divided by the responses; HAProxy's own CPU
 * per request is reported apart. Two workloads: a cached GET (GET /api/payments/:id, an L1 hit)
 * and the shipped mix (examples/payments-mix.json: 90% reads, 10% payment creations).
 *
 *   bash scripts/services.sh start && npm run bench -- scale
 *   ROUNDS=3 ROUND_MS=5000 GET_RATE=1000 BUSY_GET_RATE=2000 MIX_RATE=300 npm run bench -- scale --filter haproxy
 *
 * The cached GET is measured at GET_RATE and at BUSY_GET_RATE (the direct instance near
 * saturation on a 2-core machine), and each instance behind HAProxy gets half the rate: the
 * single instance driven at half the rate tells the cost of a process serving fewer requests per
 * event-loop turn apart from the cost of the balancer. HAProxy's `show stat` counts the
 * connections it opened to the instances and the requests that reused one.
 *
 * Goal: instances' CPU per request behind HAProxy at most 1.15x the single instance's.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { join } from 'node:path';
import { loadavg } from 'node:os';
import { resolve } from 'node:path';
import { load, type LoadResult, type RequestMix } from 'hotpath/load';
import { processCpuTimes } from '../lib/proc.js';
import { environment, median, writeResult } from '../lib/report.js';
import { startBenchCluster } from './cluster.js';

const ROUNDS = Number(process.env.ROUNDS ?? 3);
const ROUND_MS = Number(process.env.ROUND_MS ?? 5000);
const GET_RATE = Number(process.env.GET_RATE ?? 1000);
const BUSY_GET_RATE = Number(process.env.BUSY_GET_RATE ?? 2000);
const MIX_RATE = Number(process.env.MIX_RATE ?? 300);
const GOAL = 1.15;

function cpuSeconds(pids: readonly number[]): number {
  return pids.reduce((sum, pid) => {
    const t = processCpuTimes(pid);
    return sum + t.user + t.system;
  }, 0);
}

const cluster = await startBenchCluster({
  instances: 2,
  users: 1000,
  perUser: 20,
  // Charges answer in 10 ms and never fail, so the mix measures the service, not retries.
  // Shedding off: on a shared machine a stall would answer some requests with a cheap 503,
  // and every request must do its whole work for CPU per request to compare.
  env: { GATEWAY_LATENCY: 'fixed:10', GATEWAY_FAILURE_RATE: '0', SHEDDING: 'off' },
});

// The same instances behind a second HAProxy with `balance first` (FIRST_PORT, 127.0.0.1): the
// first server takes every request until it has FIRST_MAXCONN in flight, so at these rates one
// instance serves nearly all of them, as the direct instance does. It tells the cost of the
// balancer's hop apart from the cost of spreading the requests over two processes.
const FIRST_MAXCONN = Number(process.env.FIRST_MAXCONN ?? 32);
const firstPort = await freePort(Number(process.env.FIRST_PORT ?? 42080));
const firstSocket = join(cluster.stateDir, 'haproxy-first.sock');
const firstPidFile = join(cluster.stateDir, 'haproxy-first.pid');
const firstConfig = join(cluster.stateDir, 'haproxy-first.cfg');
let firstPid: number;
try {
  const config = readFileSync(join(cluster.stateDir, 'haproxy.cfg'), 'utf8')
    .replace(/^(\s*)balance leastconn$/m, '$1balance first')
    .replace(/^(\s*default-server .*)maxconn \d+/m, `$1maxconn ${FIRST_MAXCONN}`);
  if (!/balance first/.test(config)) throw new Error('haproxy.cfg: no "balance leastconn" line');
  writeFileSync(firstConfig, config);
  execFileSync('haproxy', ['-D', '-p', firstPidFile, '-f', firstConfig], {
    env: {
      ...process.env,
      HOTPATH_LB_PORT: String(firstPort),
      HOTPATH_HAPROXY_SOCKET: firstSocket,
    },
  });
  firstPid = Number(readFileSync(firstPidFile, 'utf8').trim());
} catch (error) {
  await cluster.stop();
  throw error;
}
// Its checks mark both instances UP (rise 2, 1 s apart).
await new Promise((r) => setTimeout(r, 3000));

/** A port free on 127.0.0.1, from `from` up. */
async function freePort(from: number): Promise<number> {
  for (let port = from; port < from + 100; port++) {
    const free = await new Promise<boolean>((done) => {
      const server = createServer()
        .once('error', () => done(false))
        .listen(port, '127.0.0.1', () => server.close(() => done(true)));
    });
    if (free) return port;
  }
  throw new Error(`no free port in ${from}..${from + 99}`);
}

const mixFile = JSON.parse(
  readFileSync(resolve(import.meta.dirname, '../../examples/payments-mix.json'), 'utf8'),
) as RequestMix;
type Target = 'direct' | 'haproxy' | 'first';
/** One measured side: a target at a rate. */
interface Point {
  target: Target;
  rate: number;
}
const key = (p: Point) => `${p.target}@${p.rate}`;
const workloads: Record<string, { mix: RequestMix; rate: number; points: Point[] }> = {
  // The cached GET at two rates: the direct instance far from busy (1000 req/s), and near
  // saturation on this machine (BUSY_GET_RATE), where it serves several requests per event-loop
  // turn. Each instance behind HAProxy gets half the rate: `direct` at half the rate and
  // `haproxy` at twice it compare the two at the same rate per instance.
  'cached GET': {
    mix: { requests: [{ path: `/api/payments/{{pick ${cluster.paymentIds.join(' ')}}}` }] },
    rate: GET_RATE,
    points: [
      { target: 'direct', rate: GET_RATE / 2 },
      { target: 'direct', rate: GET_RATE },
      { target: 'haproxy', rate: GET_RATE },
      { target: 'first', rate: GET_RATE },
      { target: 'direct', rate: BUSY_GET_RATE },
      { target: 'haproxy', rate: BUSY_GET_RATE },
      { target: 'first', rate: BUSY_GET_RATE },
    ],
  },
  mix: {
    mix: mixFile,
    rate: MIX_RATE,
    points: [
      { target: 'direct', rate: MIX_RATE / 2 },
      { target: 'direct', rate: MIX_RATE },
      { target: 'haproxy', rate: MIX_RATE },
      { target: 'first', rate: MIX_RATE },
    ],
  },
};
const targets: Record<Target, { url: string; pids: number[]; lbPid: number; socket: string }> = {
  direct: {
    url: cluster.instanceUrls[0]!,
    pids: [cluster.instancePids[0]!],
    lbPid: cluster.haproxyPid,
    socket: cluster.haproxySocket,
  },
  haproxy: {
    url: cluster.lbUrl,
    pids: cluster.instancePids,
    lbPid: cluster.haproxyPid,
    socket: cluster.haproxySocket,
  },
  first: {
    url: `http://127.0.0.1:${firstPort}`,
    pids: cluster.instancePids,
    lbPid: firstPid,
    socket: firstSocket,
  },
};

/** Connections HAProxy opened to the instances, and requests sent on one already open. */
function backendConnections(socketPath: string): Promise<{ connects: number; reuses: number }> {
  return new Promise((resolveStat, reject) => {
    let text = '';
    const socket = createConnection(socketPath, () => socket.write('show stat\n'));
    socket.on('data', (d) => (text += d));
    socket.on('error', reject);
    socket.on('end', () => {
      const [header, ...lines] = text.split('\n');
      const columns = (header ?? '').replace(/^# /, '').split(',');
      const at = (name: string) => columns.indexOf(name);
      let connects = 0;
      let reuses = 0;
      for (const line of lines) {
        const f = line.split(',');
        if (f[0] !== 'payments' || !/^s\d+$/.test(f[1] ?? '')) continue;
        connects += Number(f[at('connect')]);
        reuses += Number(f[at('reuse')]);
      }
      resolveStat({ connects, reuses });
    });
  });
}

interface Sample {
  /** Non-2xx answers and transport errors (timeouts, resets). */
  failed: number;
  /** More than 1% failed: left out of the medians. */
  voided: boolean;
  cpuUsPerRequest: number;
  /** The same, less each instance's idle CPU over the round (timers, metrics, health checks). */
  netCpuUsPerRequest: number;
  haproxyCpuUsPerRequest: number;
  /** Behind HAProxy: connections opened to instances, per 1,000 requests. */
  connectsPer1000: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
}
const samples: Record<string, Record<string, Sample[]>> = {};
const idleRates: number[] = [];

/** CPU-seconds per second one idle instance uses (median of the instances, over 3 s). */
async function idleCpuRate(): Promise<number> {
  const before = cluster.instancePids.map((pid) => cpuSeconds([pid]));
  await new Promise((r) => setTimeout(r, 3000));
  return median(cluster.instancePids.map((pid, i) => (cpuSeconds([pid]) - before[i]!) / 3));
}
let idleRate = 0;

async function measure(
  { url, pids, lbPid, socket }: (typeof targets)[Target],
  mix: RequestMix,
  rate: number,
  durationMs: number,
  seed: number,
): Promise<Sample> {
  const before = cpuSeconds(pids);
  const lbBefore = cpuSeconds([lbPid]);
  const connBefore = await backendConnections(socket);
  const result: LoadResult = await load({
    url,
    mix,
    rate,
    durationMs,
    warmupMs: 0,
    connections: 64,
    seed,
  });
  const used = cpuSeconds(pids) - before;
  const lbUsed = cpuSeconds([lbPid]) - lbBefore;
  const connects = (await backendConnections(socket)).connects - connBefore.connects;
  const bad = Object.entries(result.statuses).filter(([code]) => !/^2\d\d$/.test(code));
  const errors = Object.values(result.errors).reduce((a, b) => a + Number(b), 0);
  const failed = bad.reduce((a, [, n]) => a + n, 0) + errors;
  // A shared machine stalls now and then: failures up to 1% are reported, more void the round
  // (left out of the medians, counted in the report).
  const voided = failed > result.completed * 0.01;
  if (voided) {
    console.error(
      `  void round: ${url} at ${rate} req/s: statuses ${JSON.stringify(result.statuses)}, errors ${JSON.stringify(result.errors)}`,
    );
  }
  const idle = idleRate * pids.length * (result.durationMs / 1000);
  return {
    failed,
    voided,
    cpuUsPerRequest: (used * 1e6) / result.completed,
    netCpuUsPerRequest: (Math.max(0, used - idle) * 1e6) / result.completed,
    haproxyCpuUsPerRequest: (lbUsed * 1e6) / result.completed,
    connectsPer1000: (connects * 1000) / result.completed,
    rps: result.requestsPerSecond,
    p50Ms: result.latency.percentiles['50']! / 1000,
    p99Ms: result.latency.percentiles['99']! / 1000,
  };
}

try {
  for (const [name, w] of Object.entries(workloads)) {
    samples[name] = Object.fromEntries(w.points.map((p) => [key(p), []]));
    // Warm-up, not measured: JIT, connection pools, the L1 cache of each instance.
    for (const p of w.points) {
      await measure(targets[p.target], w.mix, p.rate, 2000, 99);
    }
    for (let round = 0; round < ROUNDS; round++) {
      idleRate = await idleCpuRate();
      idleRates.push(idleRate);
      for (const p of w.points) {
        samples[name]![key(p)]!.push(
          await measure(targets[p.target], w.mix, p.rate, ROUND_MS, round),
        );
      }
    }
  }
} finally {
  process.kill(firstPid, 'SIGTERM');
  await cluster.stop();
}

const env = environment();
console.log(
  `CPU per request: 2 instances behind HAProxy vs 1 instance direct, open model, ${ROUNDS} rounds of ${ROUND_MS} ms, median  (node ${env.node}, ${env.cpu}, ${env.cores} cores, load average ${loadavg()[0]!.toFixed(1)})`,
);
const summary: Record<string, unknown> = {};
const verdict = (ratio: number) => `goal <= ${GOAL}: ${ratio <= GOAL ? 'met' : 'NOT met'}`;
for (const [name, bySide] of Object.entries(samples)) {
  const w = workloads[name]!;
  const med = (side: string, k: Exclude<keyof Sample, 'voided'>) =>
    median(bySide[side]!.filter((s) => !s.voided).map((s) => s[k]));
  const cpu = (target: Target, rate: number) => med(key({ target, rate }), 'cpuUsPerRequest');
  const failures = Object.entries(bySide)
    .map(
      ([side, list]) =>
        `${side} ${list.reduce((a, x) => a + x.failed, 0)}${list.some((x) => x.voided) ? ` (${list.filter((x) => x.voided).length} rounds void)` : ''}`,
    )
    .join(', ');
  console.log(`  ${name} (failed requests over all rounds: ${failures}):`);
  for (const p of w.points) {
    const side = key(p);
    const label =
      p.target === 'direct'
        ? `1 instance direct at ${p.rate}`
        : p.target === 'haproxy'
          ? `2 behind HAProxy at ${p.rate}`
          : `2 behind HAProxy, balance first, at ${p.rate}`;
    const lb =
      p.target !== 'direct'
        ? `   (+ HAProxy ${med(side, 'haproxyCpuUsPerRequest').toFixed(0)} µs; ${med(side, 'connectsPer1000').toFixed(1)} connections opened to instances per 1,000 requests)`
        : '';
    console.log(
      `    ${label.padEnd(34)} ${med(side, 'cpuUsPerRequest').toFixed(0).padStart(5)} µs CPU/request   ${med(side, 'rps').toFixed(0)} req/s   p50 ${med(side, 'p50Ms').toFixed(2)} ms   p99 ${med(side, 'p99Ms').toFixed(2)} ms${lb}`,
    );
  }
  const ratios: Record<string, number> = {};
  for (const p of w.points.filter((q) => q.target === 'haproxy')) {
    const direct = cpu('direct', p.rate);
    const behind = cpu('haproxy', p.rate);
    const lb = med(key(p), 'haproxyCpuUsPerRequest');
    const ratio = behind / direct;
    ratios[`at ${p.rate}`] = ratio;
    console.log(
      `    at ${p.rate} req/s: instances behind HAProxy = ${ratio.toFixed(2)}x the single instance's CPU per request (${verdict(ratio)}); with HAProxy's own: ${((behind + lb) / direct).toFixed(2)}x`,
    );
    const half = w.points.find((q) => q.target === 'direct' && q.rate === p.rate / 2);
    if (half !== undefined) {
      const perInstance = behind / cpu('direct', half.rate);
      ratios[`at ${p.rate} vs direct at ${half.rate}`] = perInstance;
      console.log(
        `      the same rate per instance (1 instance direct at ${half.rate}): ${perInstance.toFixed(2)}x; the half rate alone costs the direct instance ${(cpu('direct', half.rate) / direct).toFixed(2)}x`,
      );
    }
    if (w.points.some((q) => q.target === 'first' && q.rate === p.rate)) {
      const first = cpu('first', p.rate) / direct;
      ratios[`balance first at ${p.rate}`] = first;
      console.log(
        `      with balance first (maxconn ${FIRST_MAXCONN}): ${first.toFixed(2)}x (${verdict(first)})`,
      );
    }
    const netDirect = med(key({ target: 'direct', rate: p.rate }), 'netCpuUsPerRequest');
    const netBehind = med(key(p), 'netCpuUsPerRequest');
    console.log(
      `      less idle CPU (${(median(idleRates) * 1000).toFixed(1)} ms/s per instance): ${netDirect.toFixed(0)} vs ${netBehind.toFixed(0)} µs, ${(netBehind / netDirect).toFixed(2)}x`,
    );
  }
  summary[name] = {
    points: Object.fromEntries(
      w.points.map((p) => [
        key(p),
        {
          cpuUsPerRequest: med(key(p), 'cpuUsPerRequest'),
          netCpuUsPerRequest: med(key(p), 'netCpuUsPerRequest'),
          haproxyCpuUsPerRequest: med(key(p), 'haproxyCpuUsPerRequest'),
          connectsPer1000: med(key(p), 'connectsPer1000'),
          rps: med(key(p), 'rps'),
          p50Ms: med(key(p), 'p50Ms'),
          p99Ms: med(key(p), 'p99Ms'),
        },
      ]),
    ),
    ratios,
    rounds: bySide,
  };
}
writeResult('scale-haproxy', {
  rounds: ROUNDS,
  roundMs: ROUND_MS,
  idleCpuSecondsPerSecond: idleRates,
  summary,
});
