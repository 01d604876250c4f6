/**
 * What node:cluster costs per request: the payments service as one process (WORKERS=1) and
 * as a primary with two workers (WORKERS=2), both on a fresh database of the test PostgreSQL
 * server, driven in turn by hotpath's load generator (closed model, keep-alive connections) on
 * a cheap route and on a cached payment read. Charged to each: the CPU time of its own
 * processes (the single process; or the primary plus both workers, so the connection handoff
 * and the metrics pushes count), from /proc, over the requests answered. Rounds interleaved,
 * medians. The gateway simulators are not charged.
 *
 *   npm run bench -- metrics --filter cluster-cpu
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { load } from 'hotpath/load';
import { createTestDatabase, postgresForTests } from '../../test/helpers/services.js';
import { tsxCommand } from '../lib/commands.js';
import { processCpuTimes } from '../lib/proc.js';
import { environment, median, writeResult } from '../lib/report.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 6);
const ROUND_MS = Number(process.env.BENCH_ROUND_MS ?? 3000);
const CONNECTIONS = 16;
const WARMUP_MS = Number(process.env.BENCH_WARMUP_MS ?? 4000);

const pg = await postgresForTests();
if (pg.skip !== false) {
  console.error(`cluster-cpu: ${pg.skip}`);
  process.exit(1);
}
const database = await createTestDatabase(pg.url);
const dataDir = mkdtempSync(join(tmpdir(), 'hotpath-cluster-cpu-'));

interface Running {
  child: ChildProcess;
  url: string;
  pids: number[];
}

async function start(workers: number): Promise<Running> {
  const [cmd, ...args] = tsxCommand('service/main.ts');
  const child = spawn(cmd!, args, {
    env: {
      ...process.env,
      WORKERS: String(workers),
      PORT: '0',
      METRICS_PORT: '0',
      GATEWAY_PORT: '0',
      GATEWAY_LATENCY: 'none',
      GATEWAY_FAILURE_RATE: '0',
      GATEWAY_DECLINE_RATE: '0',
      DATABASE_URL: database.url,
      DATA_DIR: join(dataDir, String(workers)),
      RATE_LIMIT_PER_SECOND: '0',
      SHEDDING: 'off',
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  const deadline = Date.now() + 120_000;
  for (;;) {
    const m = /payments service listening on (http:\/\/[\d.]+:\d+)/.exec(out);
    if (m !== null && (workers === 1 || /metrics of all workers/.test(out))) {
      const pids =
        workers === 1
          ? [child.pid!]
          : [
              child.pid!,
              ...[...out.matchAll(/worker \d+ \(pid (\d+)\) listening/g)].map((w) => Number(w[1])),
            ];
      return { child, url: m[1]!, pids };
    }
    if (child.exitCode !== null || Date.now() > deadline) {
      throw new Error(`the service (WORKERS=${workers}) did not start:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

const cpuOf = (pids: number[]): number =>
  pids.reduce((sum, pid) => {
    const t = processCpuTimes(pid);
    return sum + t.user + t.system;
  }, 0);

const services: Record<string, Running> = {
  '1 process (WORKERS=1)': await start(1),
  'primary + 2 workers (WORKERS=2)': await start(2),
};
try {
  // A payment to read, cached in each process once read.
  const first = Object.values(services)[0]!;
  const created = await fetch(`${first.url}/api/payments`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ user_id: 1, amount: 100, currency: 'EUR' }),
  });
  const { id } = (await created.json()) as { id: string };
  const routes = {
    'GET /health/live': '/health/live',
    'GET /api/payments/:id': `/api/payments/${id}`,
  };

  const samples: Record<string, Record<string, number[]>> = {};
  const rps: Record<string, Record<string, number[]>> = {};
  for (const [routeName, path] of Object.entries(routes)) {
    for (const s of Object.values(services)) {
      // Warm-up: the JIT and the cache of every worker (each worker gets its share).
      await load({
        url: s.url,
        mix: { requests: [{ path }] },
        connections: CONNECTIONS,
        durationMs: WARMUP_MS,
      });
    }
    for (let round = 0; round < ROUNDS; round++) {
      const order = Object.entries(services);
      if (round % 2 === 1) order.reverse();
      for (const [name, s] of order) {
        const before = cpuOf(s.pids);
        const result = await load({
          url: s.url,
          mix: { requests: [{ path }] },
          connections: CONNECTIONS,
          durationMs: ROUND_MS,
          warmupMs: 0,
          seed: round,
        });
        const cpu = cpuOf(s.pids) - before;
        const bad = Object.keys(result.statuses).filter((code) => code !== '200');
        if (bad.length > 0) throw new Error(`${name}: statuses ${JSON.stringify(result.statuses)}`);
        ((samples[routeName] ??= {})[name] ??= []).push((cpu / result.completed) * 1e6);
        ((rps[routeName] ??= {})[name] ??= []).push(result.requestsPerSecond);
      }
    }
  }

  const env = environment();
  console.log(
    `CPU per request, ${ROUNDS} rounds of ${ROUND_MS} ms, ${CONNECTIONS} keep-alive connections, medians (node ${env.node}, ${env.cpu}, ${env.cores} cores, load ${loadavg()[0]!.toFixed(1)})`,
  );
  const result: Record<string, unknown> = {};
  for (const [routeName, byService] of Object.entries(samples)) {
    console.log(`  ${routeName}`);
    const medians = Object.fromEntries(Object.entries(byService).map(([k, v]) => [k, median(v)]));
    for (const [name, us] of Object.entries(medians)) {
      console.log(
        `    ${name.padEnd(34)} ${us.toFixed(1)} µs CPU/request  (${median(rps[routeName]![name]!).toFixed(0)} req/s)`,
      );
    }
    const [one, two] = Object.values(medians) as [number, number];
    console.log(`    WORKERS=2 / WORKERS=1: ${(two / one).toFixed(2)}x the CPU per request`);
    result[routeName] = {
      medianUs: medians,
      samplesUs: byService,
      rps: rps[routeName],
      ratio: two / one,
    };
  }
  writeResult('metrics-cluster-cpu', {
    rounds: ROUNDS,
    roundMs: ROUND_MS,
    connections: CONNECTIONS,
    loadAverage: loadavg(),
    routes: result,
  });
} finally {
  for (const s of Object.values(services)) {
    const exited = new Promise((r) => s.child.once('exit', r));
    s.child.kill('SIGTERM');
    await exited;
  }
  await database.drop();
  rmSync(dataDir, { recursive: true, force: true });
}
