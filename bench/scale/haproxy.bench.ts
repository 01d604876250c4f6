/**
 * CPU per request of the payments service behind HAProxy with 2 instances vs one instance
 * reached directly, same run, same open-model arrival rate, interleaved rounds. The instances'
 * CPU (user + system, from /proc/<pid>/stat) is divided by the responses; HAProxy's own CPU
 * per request is reported apart. Two workloads: a cached GET (GET /api/payments/:id, an L1 hit)
 * and the shipped mix (examples/payments-mix.json: 90% reads, 10% payment creations).
 *
 *   bash scripts/services.sh start && npm run bench -- scale
 *   ROUNDS=3 ROUND_MS=5000 GET_RATE=1000 MIX_RATE=300 npm run bench -- scale --filter haproxy
 *
 * Goal: instances' CPU per request behind HAProxy at most 1.15x the single instance's.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { load, type LoadResult, type RequestMix } from 'hotpath/load';
import { processCpuTimes } from '../lib/proc.js';
import { environment, median, writeResult } from '../lib/report.js';
import { startBenchCluster } from './cluster.js';

const ROUNDS = Number(process.env.ROUNDS ?? 3);
const ROUND_MS = Number(process.env.ROUND_MS ?? 5000);
const GET_RATE = Number(process.env.GET_RATE ?? 1000);
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

const mixFile = JSON.parse(
  readFileSync(resolve(import.meta.dirname, '../../examples/payments-mix.json'), 'utf8'),
) as RequestMix;
const workloads: Record<string, { mix: RequestMix; rate: number }> = {
  'cached GET': {
    mix: { requests: [{ path: `/api/payments/{{pick ${cluster.paymentIds.join(' ')}}}` }] },
    rate: GET_RATE,
  },
  mix: { mix: mixFile, rate: MIX_RATE },
};
// `direct/2` gives the single instance the rate each of the two gets behind the balancer: it
// tells the cost of a process serving half the requests apart from the cost of the balancer.
const targets = {
  direct: { url: cluster.instanceUrls[0]!, pids: [cluster.instancePids[0]!], share: 1 },
  haproxy: { url: cluster.lbUrl, pids: cluster.instancePids, share: 1 },
  'direct/2': { url: cluster.instanceUrls[0]!, pids: [cluster.instancePids[0]!], share: 0.5 },
};

interface Sample {
  /** Non-2xx answers and transport errors (timeouts, resets). */
  failed: number;
  cpuUsPerRequest: number;
  /** The same, less each instance's idle CPU over the round (timers, metrics, health checks). */
  netCpuUsPerRequest: number;
  haproxyCpuUsPerRequest: number;
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
  url: string,
  pids: number[],
  mix: RequestMix,
  rate: number,
  durationMs: number,
  seed: number,
  strict = true,
): Promise<Sample> {
  const before = cpuSeconds(pids);
  const lbBefore = cpuSeconds([cluster.haproxyPid]);
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
  const lbUsed = cpuSeconds([cluster.haproxyPid]) - lbBefore;
  const bad = Object.entries(result.statuses).filter(([code]) => !/^2\d\d$/.test(code));
  const errors = Object.values(result.errors).reduce((a, b) => a + Number(b), 0);
  const failed = bad.reduce((a, [, n]) => a + n, 0) + errors;
  // A shared machine stalls now and then: failures up to 1% are reported, more void the round.
  if (strict && failed > result.completed * 0.01) {
    throw new Error(
      `${url}: statuses ${JSON.stringify(result.statuses)}, errors ${JSON.stringify(result.errors)}`,
    );
  }
  const idle = idleRate * pids.length * (result.durationMs / 1000);
  return {
    failed,
    cpuUsPerRequest: (used * 1e6) / result.completed,
    netCpuUsPerRequest: (Math.max(0, used - idle) * 1e6) / result.completed,
    haproxyCpuUsPerRequest: (lbUsed * 1e6) / result.completed,
    rps: result.requestsPerSecond,
    p50Ms: result.latency.percentiles['50']! / 1000,
    p99Ms: result.latency.percentiles['99']! / 1000,
  };
}

try {
  for (const [name, w] of Object.entries(workloads)) {
    samples[name] = { direct: [], haproxy: [], 'direct/2': [] };
    // Warm-up, not measured: JIT, connection pools, the L1 cache of each instance.
    for (const t of Object.values(targets))
      await measure(t.url, t.pids, w.mix, w.rate * t.share, 2000, 99, false);
    for (let round = 0; round < ROUNDS; round++) {
      idleRate = await idleCpuRate();
      idleRates.push(idleRate);
      for (const [target, t] of Object.entries(targets)) {
        samples[name]![target]!.push(
          await measure(t.url, t.pids, w.mix, w.rate * t.share, ROUND_MS, round),
        );
      }
    }
  }
} finally {
  await cluster.stop();
}

const env = environment();
console.log(
  `CPU per request: 2 instances behind HAProxy vs 1 instance direct, open model, ${ROUNDS} rounds of ${ROUND_MS} ms, median  (node ${env.node}, ${env.cpu}, ${env.cores} cores)`,
);
const summary: Record<string, unknown> = {};
for (const [name, bySide] of Object.entries(samples)) {
  const med = (side: string, key: keyof Sample) => median(bySide[side]!.map((s) => s[key]));
  const direct = med('direct', 'cpuUsPerRequest');
  const behind = med('haproxy', 'cpuUsPerRequest');
  const lb = med('haproxy', 'haproxyCpuUsPerRequest');
  const ratio = behind / direct;
  const netDirect = med('direct', 'netCpuUsPerRequest');
  const netBehind = med('haproxy', 'netCpuUsPerRequest');
  const rate = workloads[name]!.rate;
  const failures = Object.entries(bySide)
    .map(([side, list]) => `${side} ${list.reduce((a, x) => a + x.failed, 0)}`)
    .join(', ');
  console.log(`  ${name} at ${rate} req/s (failed requests over all rounds: ${failures}):`);
  console.log(
    `    1 instance direct      ${direct.toFixed(0).padStart(5)} µs CPU/request   p50 ${med('direct', 'p50Ms').toFixed(2)} ms   p99 ${med('direct', 'p99Ms').toFixed(2)} ms`,
  );
  console.log(
    `    2 behind HAProxy       ${behind.toFixed(0).padStart(5)} µs CPU/request   p50 ${med('haproxy', 'p50Ms').toFixed(2)} ms   p99 ${med('haproxy', 'p99Ms').toFixed(2)} ms   (+ HAProxy ${lb.toFixed(0)} µs)`,
  );
  const half = med('direct/2', 'cpuUsPerRequest');
  console.log(
    `    1 instance at ${rate / 2} req/s ${half.toFixed(0).padStart(5)} µs CPU/request   p50 ${med('direct/2', 'p50Ms').toFixed(2)} ms   p99 ${med('direct/2', 'p99Ms').toFixed(2)} ms   (the rate each instance gets behind HAProxy)`,
  );
  console.log(
    `    instances behind HAProxy = ${ratio.toFixed(2)}x the single instance's CPU per request (goal <= ${GOAL}: ${ratio <= GOAL ? 'met' : 'NOT met'}); with HAProxy's own: ${((behind + lb) / direct).toFixed(2)}x`,
  );
  console.log(
    `    behind HAProxy vs 1 instance at the same per-instance rate: ${(behind / half).toFixed(2)}x\n` +
      `    less idle CPU (${(median(idleRates) * 1000).toFixed(1)} ms/s per instance): ${netDirect.toFixed(0)} vs ${netBehind.toFixed(0)} µs, ${(netBehind / netDirect).toFixed(2)}x`,
  );
  summary[name] = {
    netDirectCpuUsPerRequest: netDirect,
    netBehindCpuUsPerRequest: netBehind,
    netRatio: netBehind / netDirect,
    rate,
    directCpuUsPerRequest: direct,
    behindCpuUsPerRequest: behind,
    haproxyCpuUsPerRequest: lb,
    ratio,
    ratioWithHaproxy: (behind + lb) / direct,
    halfRateDirectCpuUsPerRequest: half,
    ratioToHalfRate: behind / half,
    goalMet: ratio <= GOAL,
    rounds: bySide,
  };
}
writeResult('scale-haproxy', {
  rounds: ROUNDS,
  roundMs: ROUND_MS,
  idleCpuSecondsPerSecond: idleRates,
  summary,
});
