/**
 * The payments service's own cost per request, against a bare Fastify app
 * (bench/service/overhead-bare.ts) serving the same answers: `GET /health/live` and a cached
 * `GET /api/payments/:id` (a payment from a Map in the bare app). Both servers are pinned to
 * one core (`taskset -c 1`) and loaded at the same time by two `wrk -t1 -c50` on the other
 * core (paired rounds: whatever else the machine runs hits both alike). Each server's CPU time
 * comes from /proc/<pid>/stat, so the figure is CPU per request and its inverse, requests per
 * CPU-second; the ratio is service / bare (1.00x = the service costs what bare Fastify does).
 *
 * Then, to show where the cost goes: the service in development (the N+1 detector on), the
 * production service with one part switched off at a time (its environment switch), and bare
 * Fastify with one part of the service added at a time (BARE_WITH, for the parts with no
 * switch of their own). A part's cost is read through each variant's ratio to the bare app it
 * ran beside (the summary says how). The service runs with SHEDDING=off: under saturating
 * load its event loop is busy all the time, which is overload to the shedder; its check is
 * measured as bare+shedding.
 *
 *   npm run bench -- service --filter overhead
 *   ONLY=production,bare+metrics ROUNDS=3 ROUND_S=5 npm run bench -- service --filter overhead
 *
 * Needs Linux (/proc, taskset), wrk, 2+ cores, and the PostgreSQL server of
 * scripts/services.sh (a fresh database is created and dropped; EMBEDDED=1 uses PGlite in
 * memory instead, whose worker thread then counts in the service's CPU).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { cpus } from 'node:os';
import { createInterface } from 'node:readline';
import pg from 'pg';
import { tsxCommand } from '../lib/commands.js';
import { processCpuTimes } from '../lib/proc.js';
import { environment, median, writeResult } from '../lib/report.js';

const ROUNDS = Number(process.env.ROUNDS ?? 3);
const ROUND_S = Number(process.env.ROUND_S ?? 5);
const WARMUP_S = Number(process.env.WARMUP_S ?? 5);
const CONNECTIONS = Number(process.env.CONNECTIONS ?? 50);
const SERVER_CORE = process.env.SERVER_CORE ?? '1';
const LOAD_CORE = process.env.LOAD_CORE ?? '0';
const embedded = process.env.EMBEDDED === '1';
const adminUrl =
  process.env.TEST_DATABASE_URL ??
  `postgres://postgres@127.0.0.1:${process.env.HOTPATH_PG_PORT ?? 54329}/postgres`;

interface Variant {
  name: string;
  /** What differs, in words for the table. */
  what: string;
  /** `service`: service/main.ts with `env`; `bare`: the rival app with `BARE_WITH` parts. */
  kind: 'service' | 'bare';
  env: Record<string, string>;
}

/**
 * The service as `npm start` runs it in development and in production, then production with
 * one part off at a time; then bare Fastify with one part of the service added at a time (the
 * parts without a switch of their own). Every variant is paired with plain bare Fastify.
 */
const variants: Variant[] = [
  {
    name: 'production',
    what: 'NODE_ENV=production: every feature on, N+1 detector off (auto)',
    kind: 'service',
    env: { NODE_ENV: 'production' },
  },
  {
    name: 'development',
    what: 'NODE_ENV unset: as production plus the N+1 detector (auto)',
    kind: 'service',
    env: {},
  },
  {
    name: 'no-compression',
    what: 'production, COMPRESSION=off (no onSend hook, no ETag)',
    kind: 'service',
    env: { NODE_ENV: 'production', COMPRESSION: 'off' },
  },
  {
    name: 'no-rate-limit',
    what: 'production, RATE_LIMIT_PER_SECOND=0 (no limiter; its hook is on POST /api/payments alone)',
    kind: 'service',
    env: { NODE_ENV: 'production', RATE_LIMIT_PER_SECOND: '0' },
  },
  {
    name: 'no-profiling',
    what: 'production, PROFILING=off',
    kind: 'service',
    env: { NODE_ENV: 'production', PROFILING: 'off' },
  },
  {
    name: 'bare+logger',
    what: 'bare Fastify + pino logger, request logging off, lazy child per request',
    kind: 'bare',
    env: { BARE_WITH: 'logger' },
  },
  {
    name: 'bare+metrics',
    what: 'bare Fastify + fastifyMetrics',
    kind: 'bare',
    env: { BARE_WITH: 'metrics' },
  },
  {
    name: 'bare+n-plus-one',
    what: 'bare Fastify + N+1 detector scope (AsyncLocalStorage)',
    kind: 'bare',
    env: { BARE_WITH: 'n-plus-one' },
  },
  {
    name: 'bare+compression',
    what: 'bare Fastify + fastifyCompression (ETag)',
    kind: 'bare',
    env: { BARE_WITH: 'compression' },
  },
  {
    name: 'bare+shedding',
    what: 'bare Fastify + fastifyLoadShedder, not shedding',
    kind: 'bare',
    env: { BARE_WITH: 'shedding' },
  },
];

const routes = [
  { name: 'live', path: () => '/health/live' },
  { name: 'cached GET', path: (id: string) => `/api/payments/${id}` },
] as const;

function requireTools(): void {
  for (const tool of ['wrk', 'taskset']) {
    if (spawnSync('which', [tool]).status !== 0) {
      console.error(
        `bench: ${tool} is not installed (apt-get install -y ${tool === 'wrk' ? 'wrk' : 'util-linux'})`,
      );
      process.exit(1);
    }
  }
  if (cpus().length < 2) {
    console.error('bench: needs 2 cores (servers on one, load generators on the other)');
    process.exit(1);
  }
}

interface Server {
  name: string;
  child: ChildProcess;
  pid: number;
  base: string;
  lines: string[];
}

/** Spawns `argv` pinned to the server core and waits for `ready` (whose group 1 is the port). */
function startServer(
  name: string,
  argv: string[],
  env: Record<string, string>,
  ready: RegExp,
): Promise<Server> {
  const child = spawn('taskset', ['-c', SERVER_CORE, ...argv], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${name}: not listening after 120 s:\n${lines.slice(-20).join('\n')}`));
    }, 120_000);
    const onLine = (line: string): void => {
      if (lines.length < 500) lines.push(line);
      const match = ready.exec(line);
      if (match !== null) {
        clearTimeout(timer);
        resolve({ name, child, pid: child.pid!, base: `http://127.0.0.1:${match[1]}`, lines });
      }
    };
    createInterface({ input: child.stdout! }).on('line', onLine);
    createInterface({ input: child.stderr! }).on('line', onLine);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${name}: exited with ${code}:\n${lines.slice(-20).join('\n')}`));
    });
  });
}

async function stopServer(server: Server): Promise<void> {
  if (server.child.exitCode !== null) return;
  const exited = new Promise((resolve) => server.child.once('exit', resolve));
  server.child.kill('SIGTERM');
  const timer = setTimeout(() => server.child.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
}

interface WrkResult {
  requests: number;
  seconds: number;
  rps: number;
}

/** One `wrk` run on the load core; rejects when any answer is not 2xx/3xx. */
function wrk(url: string, seconds: number): Promise<WrkResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      'taskset',
      ['-c', LOAD_CORE, 'wrk', '-t1', `-c${CONNECTIONS}`, `-d${seconds}s`, '--timeout', '10s', url],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.once('error', reject);
    child.once('exit', (code) => {
      const done = /(\d+) requests in ([\d.]+)(m?s)/.exec(out);
      const bad = /Non-2xx or 3xx responses: (\d+)/.exec(out);
      const errors = /Socket errors: (.*)/.exec(out);
      if (code !== 0 || done === null) return reject(new Error(`wrk ${url} failed:\n${out}`));
      if (bad !== null) return reject(new Error(`wrk ${url}: ${bad[1]} answers not 2xx/3xx`));
      if (errors !== null) return reject(new Error(`wrk ${url}: socket errors ${errors[1]}`));
      const secs = Number(done[2]) / (done[3] === 'ms' ? 1000 : 1);
      const requests = Number(done[1]);
      resolve({ requests, seconds: secs, rps: requests / secs });
    });
  });
}

interface Side {
  rps: number;
  /** CPU time (user + system) of the server process per request, in microseconds. */
  cpuUsPerRequest: number;
  /** Share of one core the server used during the round. */
  cpuShare: number;
}

interface PairedRound {
  service: Side;
  bare: Side;
}

function cpuSeconds(pid: number): number {
  const t = processCpuTimes(pid);
  return t.user + t.system;
}

/** Loads both servers at once for `seconds`; each one's rate and CPU per request. */
async function pairedRound(
  service: Server,
  serviceUrl: string,
  bare: Server,
  bareUrl: string,
  seconds: number,
): Promise<PairedRound> {
  const before = { service: cpuSeconds(service.pid), bare: cpuSeconds(bare.pid) };
  const [s, b] = await Promise.all([wrk(serviceUrl, seconds), wrk(bareUrl, seconds)]);
  const used = {
    service: cpuSeconds(service.pid) - before.service,
    bare: cpuSeconds(bare.pid) - before.bare,
  };
  const side = (r: WrkResult, cpu: number): Side => ({
    rps: r.rps,
    cpuUsPerRequest: (cpu / r.requests) * 1e6,
    cpuShare: cpu / r.seconds,
  });
  return { service: side(s, used.service), bare: side(b, used.bare) };
}

interface RouteSummary {
  rounds: PairedRound[];
  serviceRps: number;
  bareRps: number;
  serviceCpuUs: number;
  bareCpuUs: number;
  /** Median over rounds of bare CPU/request ÷ service CPU/request: requests per CPU-second, service vs bare. */
  ratioPerCpu: number;
  /** Median over rounds of service req/s ÷ bare req/s, both on one core at once. */
  ratioRps: number;
}

function summarize(rounds: PairedRound[]): RouteSummary {
  return {
    rounds,
    serviceRps: median(rounds.map((r) => r.service.rps)),
    bareRps: median(rounds.map((r) => r.bare.rps)),
    serviceCpuUs: median(rounds.map((r) => r.service.cpuUsPerRequest)),
    bareCpuUs: median(rounds.map((r) => r.bare.cpuUsPerRequest)),
    ratioPerCpu: median(rounds.map((r) => r.bare.cpuUsPerRequest / r.service.cpuUsPerRequest)),
    ratioRps: median(rounds.map((r) => r.service.rps / r.bare.rps)),
  };
}

/** The payment the bare variants serve: the service's shape and size. */
const samplePayment = {
  user_id: 1,
  amount: 1250,
  currency: 'EUR',
  status: 'authorized',
  gateway_ref: 'ch_DmwupsXmPAfI',
  failure_reason: null,
  created_at: '2026-12-03T06:41:53.750Z',
  updated_at: '2026-12-03T06:41:53.790Z',
};

async function createPayment(base: string): Promise<Record<string, unknown>> {
  const res = await fetch(`${base}/api/payments`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'idempotency-key': `overhead-${Date.now()}` },
    body: JSON.stringify({ user_id: 1, amount: 1250, currency: 'EUR' }),
  });
  const body = (await res.json()) as Record<string, unknown>;
  if (res.status !== 201)
    throw new Error(`POST /api/payments: ${res.status} ${JSON.stringify(body)}`);
  // The first read fills the cache; the bench reads it from there.
  const read = await fetch(`${base}/api/payments/${String(body.id)}`);
  if (read.status !== 200) throw new Error(`GET payment: ${read.status}`);
  return (await read.json()) as Record<string, unknown>;
}

async function main(): Promise<void> {
  requireTools();
  const only = process.env.ONLY?.split(',').map((s) => s.trim());
  const chosen = only === undefined ? variants : variants.filter((v) => only.includes(v.name));
  if (chosen.length === 0) {
    console.error(`bench: ONLY names no variant (${variants.map((v) => v.name).join(', ')})`);
    process.exit(2);
  }

  let databaseEnv: Record<string, string> = { DATA_DIR: 'memory://' };
  let dropDatabase = async (): Promise<void> => {};
  if (!embedded) {
    const name = `hp_overhead_${process.pid}`;
    const admin = new pg.Client({ connectionString: adminUrl });
    try {
      await admin.connect();
    } catch (error) {
      console.error(
        `bench: no PostgreSQL at ${adminUrl} (${(error as Error).message}); run bash scripts/services.sh start, or EMBEDDED=1`,
      );
      process.exit(1);
    }
    await admin.query(`CREATE DATABASE ${name}`);
    await admin.end();
    const url = new URL(adminUrl);
    url.pathname = `/${name}`;
    databaseEnv = { DATABASE_URL: url.toString() };
    dropDatabase = async () => {
      const c = new pg.Client({ connectionString: adminUrl });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    };
  }

  const bare = await startServer(
    'bare Fastify',
    tsxCommand('bench/service/overhead-bare.ts'),
    {},
    /^listening (\d+)$/,
  );
  const results: Record<string, { what: string; routes: Record<string, RouteSummary> }> = {};
  try {
    for (const variant of chosen) {
      const service = await (variant.kind === 'bare'
        ? startServer(
            variant.name,
            tsxCommand('bench/service/overhead-bare.ts'),
            variant.env,
            /^listening (\d+)$/,
          )
        : startServer(
            variant.name,
            tsxCommand('service/main.ts'),
            {
              ...databaseEnv,
              HOST: '127.0.0.1',
              PORT: '0',
              GATEWAY_PORT: '0',
              GATEWAY_LATENCY: 'none',
              GATEWAY_FAILURE_RATE: '0',
              GATEWAY_DECLINE_RATE: '0',
              // Saturating load keeps the event loop busy all the time, which is overload to
              // the shedder (it answers 503s): off here; its per-request check is measured
              // apart (bare+shedding).
              SHEDDING: 'off',
              ...variant.env,
            },
            /payments service listening on http:\/\/127\.0\.0\.1:(\d+)/,
          ));
      try {
        const payment =
          variant.kind === 'service'
            ? await createPayment(service.base)
            : { ...samplePayment, id: randomUUID() };
        const id = String(payment.id);
        for (const target of variant.kind === 'service' ? [bare] : [bare, service]) {
          const put = await fetch(`${target.base}/api/payments/${id}`, {
            method: 'PUT',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify(payment),
          });
          if (put.status !== 200) throw new Error(`${target.name} PUT: ${put.status}`);
        }
        results[variant.name] = { what: variant.what, routes: {} };
        for (const route of routes) {
          const serviceUrl = `${service.base}${route.path(id)}`;
          const bareUrl = `${bare.base}${route.path(id)}`;
          // Warm-up: JIT, connection pools, caches; not counted.
          await Promise.all([wrk(serviceUrl, WARMUP_S), wrk(bareUrl, WARMUP_S)]);
          const rounds: PairedRound[] = [];
          for (let r = 0; r < ROUNDS; r++) {
            rounds.push(await pairedRound(service, serviceUrl, bare, bareUrl, ROUND_S));
          }
          const summary = summarize(rounds);
          results[variant.name]!.routes[route.name] = summary;
          console.log(
            `${variant.name.padEnd(16)} ${route.name.padEnd(10)}  service ${summary.serviceCpuUs.toFixed(1).padStart(6)} us/req ${summary.serviceRps.toFixed(0).padStart(6)} req/s   bare ${summary.bareCpuUs.toFixed(1).padStart(6)} us/req ${summary.bareRps.toFixed(0).padStart(6)} req/s   service = ${summary.ratioPerCpu.toFixed(2)}x bare per CPU (${summary.ratioRps.toFixed(2)}x req/s)`,
          );
        }
      } finally {
        await stopServer(service);
      }
    }
  } finally {
    await stopServer(bare);
    await dropDatabase();
  }

  const env = environment();
  console.log(
    `\nservice overhead, medians of ${ROUNDS} paired rounds of ${ROUND_S} s, wrk -t1 -c${CONNECTIONS} each, servers on core ${SERVER_CORE}  (node ${env.node}, ${env.cpu}, ${env.cores} cores)`,
  );
  // What a part costs per request, in microseconds of bare Fastify's CPU time in the
  // production rounds: each variant is compared through its ratio to the bare app it ran
  // beside, so a round slowed by the machine's other work slows both sides alike. A service
  // variant with a part off: base x (1/ratio(production) - 1/ratio(variant)); a bare+part:
  // base x (1/ratio(bare+part) - 1).
  const reference = results.production?.routes;
  const costs: Record<string, Record<string, number>> = {};
  for (const [name, { what, routes: byRoute }] of Object.entries(results)) {
    const kind = variants.find((v) => v.name === name)?.kind;
    costs[name] = {};
    const cells = Object.entries(byRoute).map(([route, s]) => {
      const base = reference?.[route]?.bareCpuUs ?? s.bareCpuUs;
      let cost: number | undefined;
      if (kind === 'bare') cost = base * (1 / s.ratioPerCpu - 1);
      else if (name !== 'production' && reference?.[route] !== undefined)
        cost = base * (1 / reference[route]!.ratioPerCpu - 1 / s.ratioPerCpu);
      if (cost !== undefined) costs[name]![route] = cost;
      const part = cost === undefined ? '' : `, part ${cost.toFixed(1)} us`;
      return `${route}: ${s.ratioPerCpu.toFixed(2)}x bare per CPU, ${s.ratioRps.toFixed(2)}x req/s (${s.serviceCpuUs.toFixed(1)} vs ${s.bareCpuUs.toFixed(1)} us/req${part})`;
    });
    console.log(`  ${name.padEnd(16)} ${cells.join('   ')}   [${what}]`);
  }
  writeResult('service-overhead', {
    rounds: ROUNDS,
    roundSeconds: ROUND_S,
    connections: CONNECTIONS,
    serverCore: SERVER_CORE,
    loadCore: LOAD_CORE,
    database: embedded ? 'embedded PGlite (memory://)' : 'PostgreSQL server',
    variants: results,
    partCostUs: costs,
  });
}

await main();
