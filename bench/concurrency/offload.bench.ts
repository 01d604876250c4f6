/**
 * Offloading a CPU step in the payments service: GET /api/payments/:id/receipt (two queries,
 * then ~3 ms of CPU: scrypt, a hash chain over the user's last 100 payments, Ed25519) with
 * RECEIPTS=inline (signed on the event loop) vs RECEIPTS=pool (on the service's one-thread
 * hotpath/concurrency WorkerPool). Two service processes (bench/concurrency/offload-server.ts)
 * on 127.0.0.1 share one seeded PostgreSQL database. hotpath/load drives them with an open
 * model: a mix of RECEIPT_SHARE receipts and cached payment reads (GET /api/payments/:id).
 *
 * Per round, modes interleaved (inline first in even rounds, pool first in odd ones):
 * - at each total rate of RATES: the CPU time per request of the server's event-loop thread
 *   and of the whole process (from /proc: immune to other work on the machine), the server's
 *   event-loop delay p99, the p99 of the reads, of the receipts and of both, from the intended
 *   send time; plus an idle baseline (the reads alone, on the pool server);
 * - the knee: the highest total rate that holds `p99<100ms` and `errors<1%`
 *   (hotpath/load's findMaxRate, the API of `hotpath load --find-max`).
 * Prints every round and the medians; writes bench/results/concurrency-offload.json.
 *
 *   npm run bench -- concurrency --filter offload      (PostgreSQL: bash scripts/services.sh start)
 *   ROUNDS=5 RATES=50,150,300 RECEIPT_SHARE=0.2 KNEE_TARGET=p99<100ms (the defaults)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { createInterface } from 'node:readline';
import { connectPostgres, migrate } from 'hotpath/db';
import {
  findMaxRate,
  load,
  mergeResults,
  parseThreshold,
  type LoadResult,
  type RequestMix,
} from 'hotpath/load';
import pg from 'pg';
import { migrations } from '../../service/migrations/index.js';
import { tsxCommand } from '../lib/commands.js';
import { environment, median, writeResult } from '../lib/report.js';

const ROUNDS = Number(process.env.ROUNDS ?? 5);
const RATES = (process.env.RATES ?? '50,150,300').split(',').map(Number);
const RECEIPT_SHARE = Number(process.env.RECEIPT_SHARE ?? 0.2);
const DURATION_MS = Number(process.env.DURATION_MS ?? 4000);
const KNEE_STEP_MS = Number(process.env.KNEE_STEP_MS ?? 3000);
const KNEE_TARGET = process.env.KNEE_TARGET ?? 'p99<100ms';
const USERS = 40;
const PAYMENTS_PER_USER = 120;
const adminUrl =
  process.env.TEST_DATABASE_URL ??
  `postgres://postgres@127.0.0.1:${process.env.HOTPATH_PG_PORT ?? 54329}/postgres`;

type Mode = 'inline' | 'pool';

// --- a database of its own, seeded, dropped at the end --------------------------------------
const name = `hp_bench_offload_${randomBytes(4).toString('hex')}`;
const admin = new pg.Client({ connectionString: adminUrl });
try {
  await admin.connect();
} catch (error) {
  console.error(
    `bench: no PostgreSQL at ${adminUrl} (${(error as Error).message}); run bash scripts/services.sh start`,
  );
  process.exit(1);
}
await admin.query(`CREATE DATABASE ${name}`);
await admin.end();
const dbUrl = new URL(adminUrl);
dbUrl.pathname = `/${name}`;
const seedDb = await connectPostgres(dbUrl.toString(), { max: 2 });
await migrate(seedDb, migrations);
await seedDb.query(
  `INSERT INTO payments (id, user_id, amount, currency, status, gateway_ref, created_at)
   SELECT gen_random_uuid(), 1 + (g % $1), 100 + g % 9000, 'EUR', 'authorized', 'ch_' || g,
          now() - (g || ' seconds')::interval
   FROM generate_series(1, $2::int) AS g`,
  [USERS, USERS * PAYMENTS_PER_USER],
);
await seedDb.query('ANALYZE payments');
const { rows } = await seedDb.query<{ id: string }>(
  'SELECT DISTINCT ON (user_id) id FROM payments ORDER BY user_id, created_at DESC',
);
await seedDb.close();
const ids = rows.map((r) => r.id).join(' ');

const dropDatabase = async () => {
  const c = new pg.Client({ connectionString: adminUrl });
  await c.connect();
  await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await c.end();
};

// --- the two service processes ---------------------------------------------------------------
interface Server {
  child: ChildProcess;
  url: string;
}

async function start(mode: Mode): Promise<Server> {
  const [command, ...args] = tsxCommand(
    'bench/concurrency/offload-server.ts',
    mode,
    dbUrl.toString(),
  );
  const child = spawn(command!, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! });
  for await (const line of lines) {
    const { port } = JSON.parse(line) as { port: number };
    return { child, url: `http://127.0.0.1:${port}` };
  }
  throw new Error(`the ${mode} server exited before listening`);
}

const reads: RequestMix = { requests: [{ path: `/api/payments/{{pick ${ids}}}` }] };
const receipts: RequestMix = { requests: [{ path: `/api/payments/{{pick ${ids}}}/receipt` }] };
const mix: RequestMix = {
  requests: [
    { weight: 1 - RECEIPT_SHARE, path: `/api/payments/{{pick ${ids}}}` },
    { weight: RECEIPT_SHARE, path: `/api/payments/{{pick ${ids}}}/receipt` },
  ],
};
const common = { connections: 256, timeoutMs: 10_000 };

async function loopDelayP99Ms(server: Server): Promise<number> {
  const body = (await fetch(`${server.url}/loop-delay`).then((r) => r.json())) as { p99Ms: number };
  return body.p99Ms;
}

const p99Ms = (r: LoadResult | undefined) =>
  r === undefined ? NaN : (r.latency.percentiles['99'] ?? NaN) / 1000;
const failures = (r: LoadResult) =>
  r.completed - (r.statuses['200'] ?? 0) + r.errors.connect + r.errors.timeout + r.errors.reset;

/**
 * CPU-seconds (user + kernel) of a server's main thread (the event loop) and of the whole
 * process (its worker thread included), from /proc: what each mode costs the event loop,
 * whatever else the machine runs.
 */
function cpuSeconds(pid: number): { main: number; all: number } {
  const read = (path: string) => {
    const stat = readFileSync(path, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime + stime, clock ticks
  };
  return { main: read(`/proc/${pid}/task/${pid}/stat`), all: read(`/proc/${pid}/stat`) };
}

interface FixedSample {
  /** Event-loop thread CPU per request, ms (requests: the schedule's, warm-up included). */
  mainCpuMsPerRequest: number;
  /** Whole-process CPU per request, ms. */
  cpuMsPerRequest: number;
  loopP99Ms: number;
  apiP99Ms: number;
  readP99Ms: number;
  receiptP99Ms: number;
  sendLagP99Ms: number;
  failures: number;
}

/** One fixed-rate run: reads and receipts side by side, split by RECEIPT_SHARE. */
async function fixed(server: Server, rate: number, withReceipts: boolean): Promise<FixedSample> {
  const options = { url: server.url, durationMs: DURATION_MS, warmupMs: 500, ...common };
  await loopDelayP99Ms(server);
  const cpuBefore = cpuSeconds(server.child.pid!);
  const runs = await Promise.all([
    load({ ...options, mix: reads, rate: rate * (1 - RECEIPT_SHARE) }),
    withReceipts ? load({ ...options, mix: receipts, rate: rate * RECEIPT_SHARE }) : undefined,
  ]);
  const loopP99Ms = await loopDelayP99Ms(server);
  const cpuAfter = cpuSeconds(server.child.pid!);
  const requests =
    (withReceipts ? rate : rate * (1 - RECEIPT_SHARE)) * ((DURATION_MS + 500) / 1000);
  const [r, s] = runs;
  const all = s === undefined ? r : mergeResults([r, s]);
  return {
    mainCpuMsPerRequest: ((cpuAfter.main - cpuBefore.main) * 1000) / requests,
    cpuMsPerRequest: ((cpuAfter.all - cpuBefore.all) * 1000) / requests,
    loopP99Ms,
    apiP99Ms: p99Ms(all),
    readP99Ms: p99Ms(r),
    receiptP99Ms: p99Ms(s),
    sendLagP99Ms: Math.max(r.generator.sendLagP99, s?.generator.sendLagP99 ?? 0) / 1000,
    failures: failures(r) + (s === undefined ? 0 : failures(s)),
  };
}

interface KneeSample {
  rate: number | null;
  steps: { rate: number; isPassed: boolean; p99Ms: number; reasons: string[] }[];
  isGeneratorBound: boolean;
}

async function knee(server: Server): Promise<KneeSample> {
  const found = await findMaxRate(
    { url: server.url, mix, durationMs: KNEE_STEP_MS, warmupMs: 1000, ...common },
    [parseThreshold(KNEE_TARGET), parseThreshold('errors<1%')],
    { startRate: 50, maxRate: 6400 },
  );
  return {
    rate: found.rate,
    steps: found.steps.map((s) => ({
      rate: s.rate,
      isPassed: s.isPassed,
      p99Ms: p99Ms(s.result),
      reasons: s.reasons,
    })),
    isGeneratorBound: found.isGeneratorBound,
  };
}

/** `400+`, or `800-` with why: p99 (the target), err, rate (served < 95%), gen (generator). */
function stepText(step: KneeSample['steps'][number]): string {
  if (step.isPassed) return `${step.rate}+`;
  const why = step.reasons.map((r) =>
    r.includes('generator')
      ? 'gen'
      : r.startsWith('served')
        ? 'rate'
        : r.toLowerCase().includes('error')
          ? 'err'
          : 'p99',
  );
  return `${step.rate}-(${[...new Set(why)].join(',')})`;
}

const servers: Record<Mode, Server> = { inline: await start('inline'), pool: await start('pool') };
// Interrupted: stop the servers and drop the database before leaving.
process.once('SIGINT', () => {
  for (const s of Object.values(servers)) s.child.kill('SIGTERM');
  void dropDatabase().finally(() => process.exit(130));
});
const fixedSamples: Record<string, FixedSample[]> = {};
const kneeSamples: Record<Mode, KneeSample[]> = { inline: [], pool: [] };
const loadAverages: number[] = [];
const env = environment();
const share = `${Math.round(RECEIPT_SHARE * 100)}% receipts`;
const ms = (x: number) => `${x.toFixed(1)} ms`;
const fixedLine = (label: string, s: FixedSample) =>
  `  ${label.padEnd(22)} loop CPU/req ${s.mainCpuMsPerRequest.toFixed(2)} ms (all ${s.cpuMsPerRequest.toFixed(2)})` +
  `   loop p99 ${ms(s.loopP99Ms).padStart(8)}   API p99 ${ms(s.apiP99Ms).padStart(8)}` +
  `   reads p99 ${ms(s.readP99Ms).padStart(8)}` +
  (Number.isNaN(s.receiptP99Ms) ? '' : `   receipts p99 ${ms(s.receiptP99Ms).padStart(8)}`) +
  `   send lag p99 ${ms(s.sendLagP99Ms)}` +
  (s.failures > 0 ? `   ${s.failures} failed` : '');
console.log(
  `offload: ${share} + cached reads, rates ${RATES.join(', ')}/s x ${DURATION_MS} ms, knee ${KNEE_TARGET}, ${ROUNDS} rounds` +
    `  (node ${env.node}, ${env.cpu}, ${env.cores} cores)`,
);
try {
  // Warm both: JIT, the read cache, the pool's thread, PostgreSQL's buffers.
  for (const server of Object.values(servers)) await fixed(server, 100, true);
  for (let round = 0; round < ROUNDS; round++) {
    const order: Mode[] = round % 2 === 0 ? ['inline', 'pool'] : ['pool', 'inline'];
    const load1 = loadavg()[0]!;
    loadAverages.push(load1);
    console.log(`round ${round + 1}  (machine load average ${load1.toFixed(1)})`);
    for (const rate of RATES) {
      const idle = await fixed(servers.pool, rate, false);
      (fixedSamples[`idle@${rate}`] ??= []).push(idle);
      console.log(fixedLine(`${rate}/s idle (reads)`, idle));
      for (const mode of order) {
        const sample = await fixed(servers[mode], rate, true);
        (fixedSamples[`${mode}@${rate}`] ??= []).push(sample);
        console.log(fixedLine(`${rate}/s ${mode}`, sample));
      }
    }
    for (const mode of order) {
      const k = await knee(servers[mode]);
      kneeSamples[mode].push(k);
      console.log(
        `  knee ${mode.padEnd(6)} ${k.rate ?? 'none'} req/s  (steps ${k.steps.map(stepText).join(' ')})` +
          (k.isGeneratorBound ? '  GENERATOR-BOUND' : ''),
      );
    }
  }
} finally {
  for (const s of Object.values(servers)) s.child.kill('SIGTERM');
  await Promise.all(
    Object.values(servers).map(
      (s) =>
        new Promise((resolve) =>
          s.child.exitCode !== null ? resolve(0) : s.child.once('exit', resolve),
        ),
    ),
  );
  await dropDatabase();
}

console.log(`medians of ${ROUNDS} rounds`);
const summary: Record<string, Record<string, number | null>> = {};
for (const [key, runs] of Object.entries(fixedSamples)) {
  const m = (k: keyof FixedSample) => median(runs.map((x) => x[k]));
  const s: FixedSample = {
    mainCpuMsPerRequest: m('mainCpuMsPerRequest'),
    cpuMsPerRequest: m('cpuMsPerRequest'),
    loopP99Ms: m('loopP99Ms'),
    apiP99Ms: m('apiP99Ms'),
    readP99Ms: m('readP99Ms'),
    receiptP99Ms: m('receiptP99Ms'),
    sendLagP99Ms: m('sendLagP99Ms'),
    failures: m('failures'),
  };
  summary[key] = { ...s };
  console.log(fixedLine(key, s));
}
for (const mode of ['inline', 'pool'] as const) {
  const rates = kneeSamples[mode].map((k) => k.rate ?? 0);
  summary[`knee ${mode}`] = { rate: median(rates) };
  console.log(`  knee ${mode.padEnd(6)} ${median(rates)} req/s  (rounds: ${rates.join(', ')})`);
}
const kneeInline = summary['knee inline']!.rate!;
const kneePool = summary['knee pool']!.rate!;
console.log(
  `  knee pool / inline = ${kneeInline > 0 ? `${(kneePool / kneeInline).toFixed(2)}x` : 'n/a (inline held no rate)'}`,
);
writeResult('concurrency-offload', {
  receiptShare: RECEIPT_SHARE,
  rates: RATES,
  durationMs: DURATION_MS,
  kneeTarget: KNEE_TARGET,
  kneeStepMs: KNEE_STEP_MS,
  loadAverages,
  fixed: fixedSamples,
  knees: kneeSamples,
  summary,
});
