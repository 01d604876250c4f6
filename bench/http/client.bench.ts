/**
 * HTTP client costs against a local `node:http` server (a child process, so the CPU measured
 * is the client's own): requests per client CPU-second and p99 latency of
 *
 * - a keep-alive pool (undici `Agent`, 16 connections) vs a new connection per request
 *   (the same agent with `reset: true`) vs the global `fetch` (keep-alive too), and
 * - hotpath's `HttpClient` with its metrics on vs bare `undici.request` on an alike agent: the
 *   goal is at most 5% fewer requests per CPU-second.
 *
 * Each round sends REQUESTS requests with CONCURRENCY in flight; rivals interleaved over
 * rounds, medians reported.
 *
 *   npm run bench -- http --filter client
 *   (BENCH_REQUESTS and BENCH_ROUNDS shrink or grow it; defaults 3000 and 5)
 */
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { Agent, request } from 'undici';
import { HttpClient } from 'hotpath/http';
import { MetricsRegistry } from 'hotpath/metrics';
import { interleave, median, printRatios, writeResult } from '../lib/report.js';

const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 3000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const CONCURRENCY = 16;

const child = spawn(
  process.execPath,
  ['--conditions=source', '--import', 'tsx', resolve(import.meta.dirname, 'server.fixture.ts')],
  { stdio: ['ignore', 'pipe', 'inherit'] },
);
const port = await new Promise<number>((done) =>
  child.stdout.once('data', (d: Buffer) => done(Number(d.toString().trim()))),
);
const origin = `http://127.0.0.1:${port}`;
const url = `${origin}/api/payments/1`;

interface RoundResult {
  perCpuSecond: number;
  perSecond: number;
  p99Ms: number;
}

/** Sends REQUESTS requests, CONCURRENCY at a time, through `send`. */
async function round(send: () => Promise<void>): Promise<RoundResult> {
  const latencies = new Float64Array(REQUESTS);
  let next = 0;
  const cpu = process.cpuUsage();
  const start = performance.now();
  const worker = async () => {
    while (next < REQUESTS) {
      const i = next++;
      const t = performance.now();
      await send();
      latencies[i] = performance.now() - t;
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const wall = (performance.now() - start) / 1000;
  const used = process.cpuUsage(cpu);
  latencies.sort();
  return {
    perCpuSecond: REQUESTS / ((used.user + used.system) / 1e6),
    perSecond: REQUESTS / wall,
    p99Ms: latencies[Math.floor(REQUESTS * 0.99)]!,
  };
}

const keepAlive = new Agent({ connections: CONCURRENCY });
const perRequest = new Agent({ connections: CONCURRENCY });
const bare = new Agent({ connections: CONCURRENCY, headersTimeout: 30_000, bodyTimeout: 30_000 });
const ours = new HttpClient({ origin, connections: CONCURRENCY, registry: new MetricsRegistry() });
const oursBare = new HttpClient({ origin, connections: CONCURRENCY });

const candidates: Record<string, () => Promise<void>> = {
  'keep-alive pool (undici Agent)': async () => {
    const res = await request(url, { dispatcher: keepAlive });
    await res.body.text();
  },
  'connection per request': async () => {
    const res = await request(url, { dispatcher: perRequest, reset: true });
    await res.body.text();
  },
  fetch: async () => {
    const res = await fetch(url);
    await res.text();
  },
};
const overheadCandidates: Record<string, () => Promise<void>> = {
  'hotpath HttpClient (metrics on)': async () => {
    const res = await ours.request({ method: 'GET', path: '/api/payments/1' });
    await res.body.text();
  },
  'hotpath HttpClient (no registry)': async () => {
    const res = await oursBare.request({ method: 'GET', path: '/api/payments/1' });
    await res.body.text();
  },
  'bare undici.request': async () => {
    const res = await request(url, { dispatcher: bare });
    await res.body.text();
  },
};

// Warm up every path (JIT, connections) before measuring.
for (const send of [...Object.values(candidates), ...Object.values(overheadCandidates)]) {
  await round(send);
}

const samples: Record<string, RoundResult[]> = {};
const results = await interleave(
  Object.fromEntries(
    Object.entries(candidates).map(([name, send]) => [
      name,
      async () => {
        const r = await round(send);
        (samples[name] ??= []).push(r);
        return r.perCpuSecond;
      },
    ]),
  ),
  ROUNDS,
);

// The overhead is a few percent, less than this machine's drift between rounds: so each
// round runs the three back to back, in an order that rotates, and the figure is the median
// of the per-round ratios rather than a ratio of medians.
const OVERHEAD_ROUNDS = ROUNDS * 3;
const ratios: Record<string, number[]> = { 'metrics on': [], 'no registry': [] };
const names = Object.keys(overheadCandidates);
for (let r = 0; r < OVERHEAD_ROUNDS; r++) {
  const perCpu: Record<string, number> = {};
  for (let k = 0; k < names.length; k++) {
    const name = names[(r + k) % names.length]!;
    const result = await round(overheadCandidates[name]!);
    (samples[name] ??= []).push(result);
    perCpu[name] = result.perCpuSecond;
  }
  const base = perCpu['bare undici.request']!;
  ratios['metrics on']!.push(perCpu['hotpath HttpClient (metrics on)']! / base);
  ratios['no registry']!.push(perCpu['hotpath HttpClient (no registry)']! / base);
}

const summary = Object.fromEntries(
  Object.entries(samples).map(([name, rs]) => [
    name,
    {
      perCpuSecond: median(rs.map((r) => r.perCpuSecond)),
      perSecond: median(rs.map((r) => r.perSecond)),
      p99Ms: median(rs.map((r) => r.p99Ms)),
    },
  ]),
);
const pick = (names: string[]) =>
  Object.fromEntries(names.map((n) => [n, summary[n]!.perCpuSecond]));

printRatios(
  `keep-alive vs not, ${REQUESTS} requests x ${ROUNDS} rounds, ${CONCURRENCY} in flight`,
  pick(['keep-alive pool (undici Agent)', 'connection per request', 'fetch']),
  'req/CPU-s',
  'keep-alive pool (undici Agent)',
);
printRatios(
  `hotpath HttpClient vs bare undici.request, ${OVERHEAD_ROUNDS} rotating rounds (medians)`,
  pick(names),
  'req/CPU-s',
  'hotpath HttpClient (metrics on)',
);
const overhead = {
  metricsOn: median(ratios['metrics on']!),
  noRegistry: median(ratios['no registry']!),
};
console.log(
  `  median per-round ratio to bare undici.request: metrics on ${overhead.metricsOn.toFixed(3)}x, ` +
    `no registry ${overhead.noRegistry.toFixed(3)}x (goal: metrics on >= 0.95x: ` +
    `${overhead.metricsOn >= 0.95 ? 'met' : 'NOT met'})`,
);
console.log('  wall req/s and p99 (medians):');
for (const [name, s] of Object.entries(summary)) {
  console.log(
    `    ${name.padEnd(34)} ${s.perSecond.toFixed(0).padStart(7)} req/s   p99 ${s.p99Ms.toFixed(2)} ms`,
  );
}
writeResult('http-client', {
  requests: REQUESTS,
  rounds: ROUNDS,
  concurrency: CONCURRENCY,
  summary,
  overhead,
  overheadRatios: ratios,
  roundsPerCpuSecond: results,
});

await Promise.all([
  keepAlive.close(),
  perRequest.close(),
  bare.close(),
  ours.close(),
  oursBare.close(),
]);
child.kill();
