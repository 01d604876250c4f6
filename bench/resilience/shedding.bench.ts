/**
 * Load shedding on event-loop pressure: hotpath's fastifyLoadShedder vs @fastify/under-pressure
 * 9.2.0 vs no protection, two ways:
 *
 *  1. decision cost: each plugin's `onRequest` hook on the path every request takes when the
 *     process is healthy, called in a loop with a real Fastify request and reply (captured
 *     from an inject), and hotpath's decision while shedding (`shouldShed`: the queue rule's
 *     clock read, then one random draw), interleaved over rounds, in this process;
 *  2. overload: one Fastify server process per variant (pinned to core 0 with taskset when
 *     present), with two CPU-bound routes (/api/work priority high, /api/report priority low,
 *     the same fixed work, about 2 ms), driven in turn by hotpath/load's open model from this
 *     process (pinned to core 1) at BENCH_OVERLOAD (2) times the capacity measured first, 3 s
 *     warm-up then BENCH_SECONDS (5) measured, BENCH_ROUNDS (3) rounds interleaved. Reports
 *     goodput (2xx per second), the p99 of admitted (2xx) requests from their intended send
 *     time, per route too, and the share answered 503.
 *
 *   npm run bench -- resilience --filter shedding
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { resolve } from 'node:path';
import underPressure from '@fastify/under-pressure';
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';
import { load } from 'hotpath/load';
import { fastifyLoadShedder, LoadShedder, type LoopSampler } from 'hotpath/resilience';
import { tsxCommand } from '../lib/commands.js';
import { environment, interleave, median, writeResult } from '../lib/report.js';
import { openRun, type OpenRun } from './fixtures/admitted.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const OVERLOAD = Number(process.env.BENCH_OVERLOAD ?? 2);
const WORK_MS = Number(process.env.BENCH_WORK_MS ?? 2);
const CALLS = 2_000_000;
const env = environment();
console.log(`node ${env.node}, ${env.cpu}, ${env.cores} cores`);

// ---- 1. decision cost ----------------------------------------------------------------------
type Hook = (request: FastifyRequest, reply: FastifyReply, done: () => void) => void;

/** The global onRequest hooks an app ended up with (Fastify keeps them under a symbol). */
function onRequestHooks(app: object): Hook[] {
  const key = Object.getOwnPropertySymbols(app).find((s) => s.description === 'fastify.hooks');
  return (app as Record<symbol, { onRequest: Hook[] }>)[key!]!.onRequest;
}

async function capturedHook(register: (app: ReturnType<typeof Fastify>) => Promise<void>) {
  const app = Fastify({ logger: false });
  await register(app);
  let captured: [FastifyRequest, FastifyReply] | undefined;
  app.get('/api/work', { config: { priority: 'normal' } }, async (request, reply) => {
    captured = [request, reply];
    return 'ok';
  });
  await app.inject('/api/work');
  const hooks = onRequestHooks(app);
  if (hooks.length !== 1 || captured === undefined) throw new Error('expected one onRequest hook');
  return { app, hook: hooks[0]!, request: captured[0], reply: captured[1] };
}

// Thresholds out of reach: the loop below keeps this process busy, and both plugins must stay
// on their healthy path (each still runs every check it has).
const ours = await capturedHook(async (app) => {
  await app.register(fastifyLoadShedder, { delayThresholdMs: 1e9, utilizationThreshold: 1 });
});
const theirs = await capturedHook(async (app) => {
  await app.register(underPressure, { maxEventLoopDelay: 1e9, maxEventLoopUtilization: 1 });
});
const overloaded: LoopSampler = { sample: () => ({ delayMs: 75, utilization: 1 }), close() {} };
const shedding = new LoadShedder({
  sampler: overloaded,
  sampleIntervalMs: 1e6,
  windowMs: 1e6,
  queueDelayTargetMs: 1e9,
});
// Level 0.5 and up: 'normal' is shed with a probability between 0 and 1, after the queue
// rule has read the clock (all calls run in one loop turn, so its wait only grows: a target
// out of reach keeps every call on the full path).
shedding.update();

let sink = 0;
const done = () => {
  sink++;
};
const nsPer = (fn: () => void) => () => {
  const start = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - start) / CALLS;
};
const decisions = await interleave(
  {
    'hotpath hook, not shedding': nsPer(() => {
      const { hook, request, reply } = ours;
      for (let i = 0; i < CALLS; i++) hook(request, reply, done);
    }),
    'under-pressure hook, not under pressure': nsPer(() => {
      const { hook, request, reply } = theirs;
      for (let i = 0; i < CALLS; i++) hook(request, reply, done);
    }),
    'hotpath shouldShed, shedding (clock + random draw)': nsPer(() => {
      for (let i = 0; i < CALLS; i++) if (shedding.shouldShed(1)) sink++;
    }),
  },
  7,
);
await Promise.all([ours.app.close(), theirs.app.close(), shedding.close()]);
console.log(`\nper-request decision, ns per call, median of 7 rounds of ${CALLS} calls`);
for (const [name, r] of Object.entries(decisions)) {
  console.log(`  ${name.padEnd(44)} ${r.median.toFixed(1)} ns`);
}
const upRatio =
  decisions['under-pressure hook, not under pressure']!.median /
  decisions['hotpath hook, not shedding']!.median;
console.log(`  under-pressure / hotpath (healthy path)      ${upRatio.toFixed(2)}x`);

// ---- 2. overload ---------------------------------------------------------------------------
const hasTaskset = spawnSync('taskset', ['-c', '0', 'true']).status === 0;
if (hasTaskset) spawnSync('taskset', ['-a', '-p', '-c', '1', String(process.pid)]);
const pinned = (core: number, argv: string[]): [string, string[]] =>
  hasTaskset ? ['taskset', ['-c', String(core), ...argv]] : [argv[0]!, argv.slice(1)];

/** The fixture's work loop, the same function shape, for calibration. */
function work(iterations: number): number {
  let x = 1;
  for (let i = 0; i < iterations; i++) x = (Math.imul(x, 31) + i) | 0;
  return x;
}

/** Iterations of the fixture's work loop that take about WORK_MS here (fastest of 15, warm). */
function calibrate(): number {
  const probe = 1_000_000;
  for (let i = 0; i < 20; i++) sink += work(probe);
  const times = Array.from({ length: 15 }, () => {
    const start = performance.now();
    sink += work(probe);
    return performance.now() - start;
  });
  return Math.round((probe * WORK_MS) / Math.min(...times));
}

const VARIANTS = ['none', 'under-pressure', 'under-pressure-interval', 'hotpath'] as const;
type Variant = (typeof VARIANTS)[number];

async function startServer(variant: Variant, iterations: number) {
  const fixture = resolve(import.meta.dirname, 'fixtures/shedding-server.fixture.ts');
  const [command, args] = pinned(0, tsxCommand(fixture, variant, String(iterations)));
  const child: ChildProcess = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((done, fail) => {
    child.stdout!.once('data', (d: Buffer) => done(Number(d.toString().trim())));
    child.once('exit', (code) => fail(new Error(`${variant} server exited with ${code}`)));
  });
  return { child, origin: `http://127.0.0.1:${port}` };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const iterations = calibrate();
const servers = new Map<Variant, { child: ChildProcess; origin: string }>();
const runs: Record<Variant, OpenRun[]> = {
  none: [],
  'under-pressure': [],
  'under-pressure-interval': [],
  hotpath: [],
};
let capacity = NaN;
try {
  for (const variant of VARIANTS) servers.set(variant, await startServer(variant, iterations));
  // Capacity: the unprotected server's throughput with enough clients to keep it busy; the
  // best of three, since other work on the machine only ever lowers it.
  const capacities: number[] = [];
  for (let i = 0; i < 3; i++) {
    const result = await load({
      url: `${servers.get('none')!.origin}/api/work`,
      connections: 16,
      durationMs: 2000,
      warmupMs: 1000,
    });
    capacities.push(result.requestsPerSecond);
  }
  capacity = Math.max(...capacities);
  const rate = Math.round(capacity * OVERLOAD);
  console.log(
    `\noverload: ${iterations} iterations of work per request (about ${WORK_MS} ms here), ` +
      `capacity ${capacity.toFixed(0)} req/s, driven at ${rate} req/s (${OVERLOAD}x), ` +
      `half /api/work (high), half /api/report (low)`,
  );
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? VARIANTS : [...VARIANTS].reverse();
    for (const variant of order) {
      const run = await openRun({
        origin: servers.get(variant)!.origin,
        paths: ['/api/work', '/api/report'],
        rate,
        warmupMs: 3000,
        durationMs: SECONDS * 1000,
        connections: 500,
      });
      runs[variant].push(run);
      console.log(
        `  round ${round + 1} ${variant.padEnd(24)} goodput ${run.goodput.toFixed(0).padStart(5)}/s ` +
          `(within 1 s ${run.timelyGoodput.toFixed(0).padStart(5)}/s)  ` +
          `p99 admitted ${run.admitted.p99Ms.toFixed(1).padStart(7)} ms  ` +
          `(high ${run.byPath['/api/work']!.p99Ms.toFixed(1)}, ${run.byPath['/api/work']!.goodput.toFixed(0)}/s)  ` +
          `503 ${(run.shedShare * 100).toFixed(0)}%  unanswered ${run.unanswered}  ` +
          `generator p99 ${run.generatorP99Ms.toFixed(1)} ms`,
      );
      // Let a backlog drain before the next server is driven.
      await sleep(2000);
    }
  }
} finally {
  for (const { child } of servers.values()) {
    child.kill('SIGTERM');
    await once(child, 'exit');
  }
}

const summary = Object.fromEntries(
  VARIANTS.map((v) => {
    const r = runs[v];
    return [
      v,
      {
        goodput: median(r.map((x) => x.goodput)),
        timelyGoodput: median(r.map((x) => x.timelyGoodput)),
        p99AdmittedMs: median(r.map((x) => x.admitted.p99Ms)),
        p50AdmittedMs: median(r.map((x) => x.admitted.p50Ms)),
        highGoodput: median(r.map((x) => x.byPath['/api/work']!.goodput)),
        highP99Ms: median(r.map((x) => x.byPath['/api/work']!.p99Ms)),
        lowGoodput: median(r.map((x) => x.byPath['/api/report']!.goodput)),
        shedShare: median(r.map((x) => x.shedShare)),
      },
    ];
  }),
) as unknown as Record<Variant, Record<string, number>>;
console.log(
  `\noverload at ${OVERLOAD}x capacity (${capacity.toFixed(0)} req/s), medians of ${ROUNDS} rounds`,
);
console.log(
  '  variant                   goodput  within 1 s   p99 admitted   high: goodput  p99      low goodput  503',
);
for (const v of VARIANTS) {
  const s = summary[v];
  console.log(
    `  ${v.padEnd(24)} ${s.goodput!.toFixed(0).padStart(6)}/s ${s.timelyGoodput!.toFixed(0).padStart(8)}/s` +
      `  ${s.p99AdmittedMs!.toFixed(1).padStart(9)} ms` +
      `   ${s.highGoodput!.toFixed(0).padStart(9)}/s ${s.highP99Ms!.toFixed(1).padStart(7)} ms` +
      `   ${s.lowGoodput!.toFixed(0).padStart(7)}/s  ${(s.shedShare! * 100).toFixed(0).padStart(3)}%`,
  );
}
const h = summary.hotpath;
for (const v of ['under-pressure', 'under-pressure-interval', 'none'] as const) {
  console.log(
    `  hotpath vs ${v}: goodput ${(h.goodput! / summary[v].goodput!).toFixed(2)}x, ` +
      `within 1 s ${(h.timelyGoodput! / summary[v].timelyGoodput!).toFixed(2)}x, ` +
      `p99 admitted ${(summary[v].p99AdmittedMs! / h.p99AdmittedMs!).toFixed(2)}x lower`,
  );
}
writeResult('resilience-shedding', {
  decisions,
  capacity,
  rate: Math.round(capacity * OVERLOAD),
  overload: OVERLOAD,
  iterations,
  workMs: WORK_MS,
  summary,
  runs,
});
void sink;
