/**
 * What one request of the shipped mix costs each tier, the figures a capacity plan needs:
 * CPU per request of the service instances, of HAProxy, of the PostgreSQL backends serving the
 * bench's database (the pools' connections) and of a Redis server started for the bench alone;
 * Redis commands per request; PostgreSQL connections held. The gateway simulator, which stands
 * in for an external processor, is not counted.
 * Two sides, interleaved over ROUNDS rounds at the same open-model rate: one instance reached
 * directly, and two instances behind HAProxy (scripts/scale.sh). docs/capacity.md turns these
 * into the machines a 10,000 req/s target needs.
 *
 * The instances run as deployed, NODE_ENV=production (the N+1 detector, a development aid, off);
 * NODE_ENV=development measures them with it.
 *
 *   bash scripts/services.sh start && npm run bench -- scale --filter capacity
 *   ROUNDS=3 ROUND_MS=6000 RATE=200 npm run bench -- scale --filter capacity
 *   NODE_ENV=development RATE=800 npm run bench -- scale --filter capacity
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { resolve } from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import { load, type RequestMix } from 'hotpath/load';
import { environment, median, writeResult } from '../lib/report.js';
import { adminUrl, startBenchCluster } from './cluster.js';

const ROUNDS = Number(process.env.ROUNDS ?? 3);
const ROUND_MS = Number(process.env.ROUND_MS ?? 6000);
const RATE = Number(process.env.RATE ?? 200);
const TICKS = 100;
const NODE_ENV = process.env.NODE_ENV ?? 'production';

/** CPU-seconds of a process (0 once it has exited). */
function cpuOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / TICKS;
  } catch {
    return 0;
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

/** CPU-seconds of each PostgreSQL backend serving `database` (the pools' connections). */
async function postgresCpu(): Promise<Map<number, number>> {
  const { rows } = await admin.query<{ pid: number }>(
    'SELECT pid FROM pg_stat_activity WHERE datname = $1',
    [database],
  );
  return new Map(rows.map(({ pid }) => [pid, cpuOf(pid)]));
}

/** CPU used between two snapshots; a backend opened meanwhile counts whole. */
function postgresUsed(before: Map<number, number>, after: Map<number, number>): number {
  let used = 0;
  for (const [pid, cpu] of after) used += cpu - (before.get(pid) ?? 0);
  return used;
}

const admin = new pg.Client({ connectionString: adminUrl });
await admin.connect();
// A Redis server of its own: the shared one serves other work whose commands and CPU would
// count here.
const redisPort = await freePort();
const redisServer = spawn(
  'redis-server',
  ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
  { stdio: 'ignore' },
);
const redisUrl = `redis://127.0.0.1:${redisPort}`;
const redis = new Redis(redisUrl, { retryStrategy: (n) => (n > 50 ? null : 100) });
redis.on('error', () => undefined); // refused until the server listens: retried
await redis.ping();

async function redisCounters(): Promise<{ cpu: number; commands: number }> {
  const info = await redis.info();
  const field = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1]);
  return {
    cpu: field('used_cpu_user') + field('used_cpu_sys'),
    commands: field('total_commands_processed'),
  };
}

const cluster = await startBenchCluster({
  instances: 2,
  users: 1000,
  perUser: 20,
  // Charges answer in 10 ms and never fail, shedding and the per-client limit off: every
  // request does its whole work, so CPU per request compares across sides.
  env: {
    GATEWAY_LATENCY: 'fixed:10',
    GATEWAY_FAILURE_RATE: '0',
    SHEDDING: 'off',
    RATE_LIMIT_PER_SECOND: '0',
    REDIS_URL: redisUrl,
    NODE_ENV,
  },
});
const database = new URL(cluster.databaseUrl).pathname.slice(1);

async function connections(): Promise<number> {
  const { rows } = await admin.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1',
    [database],
  );
  return rows[0]!.n;
}

const mix = JSON.parse(
  readFileSync(resolve(import.meta.dirname, '../../examples/payments-mix.json'), 'utf8'),
) as RequestMix;

interface Sample {
  responses: number;
  failed: number;
  instanceUs: number;
  haproxyUs: number;
  postgresUs: number;
  redisUs: number;
  redisCommands: number;
  connections: number;
  p99Ms: number;
}

const sides = {
  '1 instance, direct': { url: cluster.instanceUrls[0]!, pids: [cluster.instancePids[0]!] },
  '2 instances, HAProxy': { url: cluster.lbUrl, pids: cluster.instancePids },
};
const samples: Record<string, Sample[]> = Object.fromEntries(
  Object.keys(sides).map((name) => [name, []]),
);

async function measure(url: string, pids: number[], durationMs: number): Promise<Sample> {
  const before = {
    instances: pids.reduce((s, pid) => s + cpuOf(pid), 0),
    haproxy: cpuOf(cluster.haproxyPid),
    postgres: await postgresCpu(),
    redis: await redisCounters(),
  };
  let peak = 0;
  const poll = setInterval(() => {
    connections().then(
      (n) => (peak = Math.max(peak, n)),
      () => undefined,
    );
  }, 500);
  const result = await load({ url, mix, rate: RATE, durationMs, warmupMs: 0, connections: 64 });
  clearInterval(poll);
  const after = {
    instances: pids.reduce((s, pid) => s + cpuOf(pid), 0),
    haproxy: cpuOf(cluster.haproxyPid),
    postgres: await postgresCpu(),
    redis: await redisCounters(),
  };
  const n = result.completed;
  const bad = Object.entries(result.statuses)
    .filter(([code]) => !/^2\d\d$/.test(code))
    .reduce((a, [, c]) => a + c, 0);
  const errors = Object.values(result.errors).reduce((a, b) => a + Number(b), 0);
  const us = (seconds: number) => (seconds * 1e6) / n;
  return {
    responses: n,
    failed: bad + errors,
    instanceUs: us(after.instances - before.instances),
    haproxyUs: us(after.haproxy - before.haproxy),
    postgresUs: us(postgresUsed(before.postgres, after.postgres)),
    redisUs: us(after.redis.cpu - before.redis.cpu),
    redisCommands: (after.redis.commands - before.redis.commands) / n,
    connections: peak,
    p99Ms: result.latency.percentiles['99']! / 1000,
  };
}

try {
  for (const side of Object.values(sides)) await measure(side.url, side.pids, 2000); // warm-up
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, side] of Object.entries(sides))
      samples[name]!.push(await measure(side.url, side.pids, ROUND_MS));
  }
} finally {
  await cluster.stop();
  await admin.end();
  redis.disconnect();
  redisServer.kill('SIGTERM');
}

const summary = Object.fromEntries(
  Object.entries(samples).map(([name, list]) => {
    const m = (key: keyof Sample) => median(list.map((s) => s[key]));
    return [
      name,
      {
        instanceUs: m('instanceUs'),
        haproxyUs: m('haproxyUs'),
        postgresUs: m('postgresUs'),
        redisUs: m('redisUs'),
        redisCommands: m('redisCommands'),
        connections: m('connections'),
        p99Ms: m('p99Ms'),
        failed: list.reduce((a, s) => a + s.failed, 0),
        rounds: list,
      },
    ];
  }),
);

const env = environment();
console.log(
  `the shipped mix at ${RATE} req/s, open model, ${ROUNDS} rounds of ${ROUND_MS} ms, NODE_ENV=${NODE_ENV}, medians (${env.node}, ${env.cores} cores: ${env.cpu}):`,
);
for (const [name, s] of Object.entries(summary)) {
  console.log(
    `  ${name.padEnd(22)} CPU per request: instances ${s.instanceUs.toFixed(0)} µs   HAProxy ${s.haproxyUs.toFixed(0)} µs   PostgreSQL ${s.postgresUs.toFixed(0)} µs   Redis ${s.redisUs.toFixed(0)} µs;   Redis commands/request ${s.redisCommands.toFixed(2)};   PostgreSQL connections ${s.connections};   p99 ${s.p99Ms.toFixed(1)} ms;   failed ${s.failed}`,
  );
}
writeResult('scale-capacity', {
  rate: RATE,
  rounds: ROUNDS,
  roundMs: ROUND_MS,
  nodeEnv: NODE_ENV,
  summary,
});
