/**
 * Profiling overhead and stop-to-bytes latency: hotpath/profile (V8 CPU profiler through
 * node:inspector, taken in chunks folded while the profile runs) vs @datadog/pprof's wall
 * profiler (native addon), in one process. Two workloads: a request-handler-like mix (JSON,
 * validation, arithmetic, string rendering; a few dozen call-tree nodes) and a wide call tree
 * (300 generated functions calling each other 6 deep; about 10 000 nodes in 10 s, closer to a
 * real service's profile).
 *
 * 1. Overhead: each workload runs a fixed number of operations per block (about 1.5 s, yielding
 *    to the event loop every few hundred operations so the profiler's chunk rotations run, as
 *    they would in a service): profiler off, hotpath on (1 ms and 10 ms sampling),
 *    @datadog/pprof on (1 ms), in a rotating order each round. Per round the ratio on/off is
 *    taken for the main thread's CPU time (Linux /proc/thread-self/schedstat: wall time would
 *    count the time other processes hold the CPU; the chunk stops and folds run on this
 *    thread and are counted) and for the process CPU time (which adds the sampling threads).
 *    The profiler is started before a block and aborted after it, so its one-off start and
 *    stop are not counted; what runs every chunk is.
 * 2. Stop to bytes: a 10 s profile while the workload runs, then the time from the end of the
 *    profile window (hotpath: the call that stops the last chunk; @datadog/pprof: time.stop)
 *    to the gzip pprof bytes, wall and process CPU (getrusage: exact for a few ms).
 * 3. Where the time goes: per-chunk stop cost by chunk length, fold, pprof encoding (ours and
 *    pprof-format's on the same profile), gzip; samples lost between chunks, counted against a
 *    whole-window profile of the same V8 profiler.
 *
 *   npm run bench -- profile
 *   BENCH_ROUNDS=9 BENCH_STOP_ROUNDS=3 BENCH_PROFILE_SECONDS=10 BENCH_CHUNK_MS=1000 npm run bench -- profile
 */
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { time as ddTime, encodeSync as ddEncode } from '@datadog/pprof';
import type { CpuProfile, InspectorTarget } from 'hotpath/profile';
import {
  CpuProfileAggregate,
  cpuProfileToPprof,
  encodePprof,
  openThreadTarget,
  renderFlameGraph,
  SourceMapResolver,
  takeChunkedCpuProfile,
  treeFromCpuProfile,
} from 'hotpath/profile';
import { environment, median, writeResult } from '../lib/report.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 9);
const STOP_ROUNDS = Number(process.env.BENCH_STOP_ROUNDS ?? 3);
const PROFILE_SECONDS = Number(process.env.BENCH_PROFILE_SECONDS ?? 10);
const CHUNK_MS = Number(process.env.BENCH_CHUNK_MS ?? 1000);
const LAST_CHUNK_MS = Number(process.env.BENCH_LAST_CHUNK_MS ?? 100);
const BLOCK_MS = 1500;
const INTERVAL_US = 1000;

// ---- workload ---------------------------------------------------------------------------
const bodies = Array.from({ length: 64 }, (_, i) =>
  JSON.stringify({
    userId: `user-${i}`,
    currency: i % 2 === 0 ? 'EUR' : 'USD',
    lines: Array.from({ length: 8 }, (_, j) => ({
      sku: `sku-${i}-${j}`,
      qty: (j % 3) + 1,
      price: 199 + j * 7,
    })),
  }),
);

interface Order {
  userId: string;
  currency: string;
  lines: { sku: string; qty: number; price: number }[];
}

function parseBody(i: number): Order {
  return JSON.parse(bodies[i & 63]!) as Order;
}

function validateOrder(order: Order): boolean {
  if (!/^user-\d+$/.test(order.userId)) return false;
  if (order.currency !== 'EUR' && order.currency !== 'USD') return false;
  return order.lines.every((l) => Number.isInteger(l.qty) && l.qty > 0 && l.price > 0);
}

function priceOrder(order: Order): number {
  let total = 0;
  for (const line of order.lines) {
    let unit = line.price;
    for (let k = 0; k < 40; k++) unit = Math.round(unit * 1.0001 + Math.sin(k) * 0.01);
    total += unit * line.qty;
  }
  return total;
}

function renderReceipt(order: Order, total: number): string {
  const rows = order.lines.map(
    (l) =>
      `${l.sku.padEnd(16)}${String(l.qty).padStart(4)}${(l.price / 100).toFixed(2).padStart(10)}`,
  );
  return `${order.userId}\n${rows.join('\n')}\nTOTAL ${(total / 100).toFixed(2)} ${order.currency}`;
}

function handleRequest(i: number): number {
  const order = parseBody(i);
  if (!validateOrder(order)) return 0;
  const total = priceOrder(order);
  return renderReceipt(order, total).length;
}

// A wide call tree: 300 generated functions calling each other 6 deep.
const wide: ((depth: number, x: number) => number)[] = [];
for (let i = 0; i < 300; i++) {
  const make = new Function(
    'fns',
    `return function wide_${i}(d, x) {
       let s = x;
       for (let k = 0; k < 40; k++) s += (k * ${i + 1}) % 7;
       return d > 0 ? fns[(x * 31 + ${i}) % fns.length](d - 1, s & 0xffff) + 1 : s;
     }`,
  ) as (fns: unknown) => (depth: number, x: number) => number;
  wide.push(make(wide));
}
const wideRequest = (i: number): number => wide[i % wide.length]!(6, i);

type Work = (i: number) => number;
const workloads: Record<string, Work> = {
  'request mix': handleRequest,
  'wide call tree': wideRequest,
};

/** CPU time of the calling thread in ms (Linux); falls back to wall time elsewhere. */
function threadCpuMs(): number {
  try {
    return Number(readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0]) / 1e6;
  } catch {
    return performance.now();
  }
}

/**
 * CPU time of the process in ms (all threads). For spans of a few ms: the thread figure above
 * is only updated at scheduler ticks (4 ms here), getrusage is exact.
 */
function processCpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

let sink = 0;
const BATCH = 200;
const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Runs `ops` operations in batches, yielding between batches. */
async function runBlock(work: Work, ops: number): Promise<{ mainMs: number; processMs: number }> {
  const cpu0 = process.cpuUsage();
  const t0 = threadCpuMs();
  for (let i = 0; i < ops;) {
    const end = Math.min(ops, i + BATCH);
    for (; i < end; i++) sink += work(i);
    await tick();
  }
  const mainMs = threadCpuMs() - t0;
  const cpu = process.cpuUsage(cpu0);
  return { mainMs, processMs: (cpu.user + cpu.system) / 1000 };
}

/** Runs `work` in batches until `until` settles; resolves as it does. */
async function busyUntil<T>(until: Promise<T>, work: Work): Promise<T> {
  let settled = false;
  until.then(
    () => (settled = true),
    () => (settled = true),
  );
  let i = 0;
  while (!settled) {
    for (let k = 0; k < BATCH; k++) sink += work(i++);
    await tick();
  }
  return until;
}

// ---- an inspector target that times the chunk stops --------------------------------------
interface ChunkStop {
  wallMs: number;
  cpuMs: number;
  /** performance.now() and thread CPU at the call. */
  at: number;
  cpuAt: number;
}

function instrumented(inner: InspectorTarget): {
  target: InspectorTarget;
  stops: ChunkStop[];
  chunks: CpuProfile[];
} {
  const stops: ChunkStop[] = [];
  const chunks: CpuProfile[] = [];
  inner.on('Profiler.consoleProfileFinished', (params) => {
    chunks.push((params as { profile: CpuProfile }).profile);
  });
  const target: InspectorTarget = {
    label: inner.label,
    on: (event, listener) => inner.on(event, listener),
    close: () => inner.close(),
    post: (method, params) => inner.post(method, params),
    consoleProfile(title, end) {
      if (!end) return inner.consoleProfile!(title, end);
      const cpuAt = processCpuMs();
      const at = performance.now();
      inner.consoleProfile!(title, end);
      stops.push({ wallMs: performance.now() - at, cpuMs: processCpuMs() - cpuAt, at, cpuAt });
    },
  };
  return { target, stops, chunks };
}

const resolver = new SourceMapResolver();
const chunkOptions = (durationMs: number, signal?: AbortSignal) => ({
  durationMs,
  intervalUs: INTERVAL_US,
  chunkMs: CHUNK_MS,
  lastChunkMs: LAST_CHUNK_MS,
  resolver,
  signal,
});

// ---- 1. overhead -------------------------------------------------------------------------
type Mode = 'off' | 'hotpath' | 'hotpath10' | 'datadog';
const modes: Mode[] = ['off', 'hotpath', 'hotpath10', 'datadog'];
const onModes = ['hotpath', 'hotpath10', 'datadog'] as const;

async function block(work: Work, ops: number, mode: Mode) {
  let running: Promise<unknown> | undefined;
  const controller = new AbortController();
  const target = openThreadTarget();
  if (mode === 'hotpath' || mode === 'hotpath10') {
    running = takeChunkedCpuProfile(target, {
      ...chunkOptions(600_000, controller.signal),
      intervalUs: mode === 'hotpath' ? INTERVAL_US : 10_000,
    }).catch(() => undefined);
    await tick(); // the first chunk has started
  }
  if (mode === 'datadog') ddTime.start({ intervalMicros: INTERVAL_US, durationMillis: 600_000 });
  const result = await runBlock(work, ops);
  controller.abort();
  await running;
  if (mode === 'datadog') ddTime.stop();
  await target.close();
  return result;
}

async function overhead(work: Work) {
  // Calibrate blocks of about BLOCK_MS after warming up the JIT.
  await runBlock(work, 20_000);
  let ops = 20_000;
  for (;;) {
    const t0 = performance.now();
    await runBlock(work, ops);
    const ms = performance.now() - t0;
    if (ms >= BLOCK_MS / 2) {
      ops = Math.round((ops * BLOCK_MS) / ms);
      break;
    }
    ops *= 2;
  }
  const main: Record<string, number[]> = { hotpath: [], hotpath10: [], datadog: [] };
  const proc: Record<string, number[]> = { hotpath: [], hotpath10: [], datadog: [] };
  for (let r = 0; r < ROUNDS; r++) {
    const order = [...modes.slice(r % modes.length), ...modes.slice(0, r % modes.length)];
    const results: Partial<Record<Mode, { mainMs: number; processMs: number }>> = {};
    for (const mode of order) results[mode] = await block(work, ops, mode);
    for (const mode of onModes) {
      main[mode]!.push(results[mode]!.mainMs / results.off!.mainMs);
      proc[mode]!.push(results[mode]!.processMs / results.off!.processMs);
    }
  }
  return { ops, main, proc };
}

// ---- 2. stop to bytes --------------------------------------------------------------------
interface StopRound {
  hotpathMs: number;
  hotpathCpuMs: number;
  datadogMs: number;
  datadogCpuMs: number;
  hotpathKB: number;
  datadogKB: number;
  nodes: number;
  samples: number;
  chunks: number;
  /** The last chunk's stop through the inspector (part of hotpathMs). */
  lastStopMs: number;
  lastChunkNodes: number;
  /** Per-second CPU cost of the chunk rotations during the window (stop + fold). */
  rotationCpuMsPerS: number;
  /** Time of each step of the final path, measured again on the same chunks. */
  /** Folding the last chunk, with encoding and compressing its part. */
  foldLastMs: number;
  /** encodePprof(): compressing the trailing fields and joining the parts. */
  finishMs: number;
  /** The alternative: the whole tree encoded and gzipped at the end. */
  oneShotMs: number;
  pprofFormatMs: number;
  cpuprofileMs: number;
  flamegraphMs: number;
}

async function stopRound(work: Work): Promise<StopRound> {
  const inner = openThreadTarget();
  const { target, stops, chunks } = instrumented(inner);
  const aggregate = await busyUntil(
    takeChunkedCpuProfile(target, chunkOptions(PROFILE_SECONDS * 1000)),
    work,
  );
  const bytes = aggregate.encodePprof();
  const bytesAt = performance.now();
  const bytesCpu = processCpuMs();
  await target.close();
  const last = stops.at(-1)!;
  // CPU time of the rotations: each stop's CPU plus the fold that follows it, measured by
  // folding the same chunks again.
  const refold = new CpuProfileAggregate({ intervalUs: INTERVAL_US, resolver });
  let foldMs = 0;
  let foldLastMs = 0;
  for (const [i, chunk] of chunks.entries()) {
    const t0 = performance.now();
    refold.add(chunk);
    const ms = performance.now() - t0;
    if (i === chunks.length - 1) foldLastMs = ms;
    else foldMs += ms;
  }
  const rotationCpuMs = stops.slice(0, -1).reduce((sum, s) => sum + s.cpuMs, 0) + foldMs;
  let t0 = performance.now();
  aggregate.encodePprof();
  const finishMs = performance.now() - t0;
  t0 = performance.now();
  gzipSync(aggregate.toPprof(), { level: 1 });
  const oneShotMs = performance.now() - t0;
  t0 = performance.now();
  const cpuProfile = aggregate.toCpuProfile();
  encodePprof(cpuProfileToPprof(cpuProfile, { intervalUs: INTERVAL_US }));
  const pprofFormatMs = performance.now() - t0;
  t0 = performance.now();
  JSON.stringify(aggregate.toCpuProfile());
  const cpuprofileMs = performance.now() - t0;
  t0 = performance.now();
  renderFlameGraph(treeFromCpuProfile(aggregate.toCpuProfile()));
  const flamegraphMs = performance.now() - t0;

  ddTime.start({ intervalMicros: INTERVAL_US, durationMillis: 600_000 });
  const end = performance.now() + PROFILE_SECONDS * 1000;
  let i = 0;
  while (performance.now() < end) {
    for (let k = 0; k < BATCH; k++) sink += work(i++);
    await tick();
  }
  const c0 = processCpuMs();
  const d0 = performance.now();
  const theirs = ddEncode(ddTime.stop());
  const datadogMs = performance.now() - d0;
  const datadogCpuMs = processCpuMs() - c0;

  return {
    hotpathMs: bytesAt - last.at,
    hotpathCpuMs: bytesCpu - last.cpuAt,
    datadogMs,
    datadogCpuMs,
    hotpathKB: bytes.length / 1024,
    datadogKB: theirs.length / 1024,
    nodes: aggregate.nodeCount,
    samples: aggregate.sampleCount,
    chunks: aggregate.chunkCount,
    lastStopMs: last.wallMs,
    lastChunkNodes: chunks.at(-1)?.nodes.length ?? 0,
    rotationCpuMsPerS: rotationCpuMs / PROFILE_SECONDS,
    foldLastMs,
    finishMs,
    oneShotMs,
    pprofFormatMs,
    cpuprofileMs,
    flamegraphMs,
  };
}

// ---- 3. chunk length sweep and lost samples (wide call tree) --------------------------------
async function sweep(work: Work, chunkMs: number) {
  const inner = openThreadTarget();
  const { target, stops, chunks } = instrumented(inner);
  await busyUntil(
    takeChunkedCpuProfile(target, {
      ...chunkOptions(3000),
      chunkMs,
      lastChunkMs: Math.min(chunkMs, LAST_CHUNK_MS),
    }),
    work,
  );
  await target.close();
  const full = stops.slice(0, -1);
  return {
    chunkMs,
    stopMs: median(full.map((s) => s.wallMs)),
    stopCpuMs: median(full.map((s) => s.cpuMs)),
    nodesPerChunk: median(chunks.slice(0, -1).map((c) => c.nodes.length)),
    stopCpuMsPerS: full.reduce((sum, s) => sum + s.cpuMs, 0) / 3,
  };
}

/** Samples of a whole-window profile of the same V8 profiler missing from the folded chunks. */
async function lostSamples(work: Work) {
  const inner = openThreadTarget();
  let reference: CpuProfile | undefined;
  const target: InspectorTarget = {
    label: inner.label,
    on: (event, listener) => inner.on(event, listener),
    close: () => inner.close(),
    consoleProfile: (title, end) => inner.consoleProfile!(title, end),
    async post(method, params) {
      if (method === 'Profiler.disable' && reference === undefined)
        ({ profile: reference } = (await inner.post('Profiler.stop')) as { profile: CpuProfile });
      const result = await inner.post(method, params);
      if (method === 'Profiler.setSamplingInterval') await inner.post('Profiler.start');
      return result;
    },
  };
  const aggregate = await busyUntil(takeChunkedCpuProfile(target, chunkOptions(5000)), work);
  await target.close();
  const times = (p: CpuProfile): number[] => {
    let ts = p.startTime;
    return (p.timeDeltas ?? []).map((d) => (ts += d));
  };
  const ours = times(aggregate.toCpuProfile());
  const mine = new Set(ours);
  const theirs = times(reference!).filter((t) => t >= ours[0]! && t <= ours.at(-1)!);
  const all = new Set(theirs);
  return {
    chunks: aggregate.chunkCount,
    referenceSamples: theirs.length,
    foldedSamples: ours.length,
    missing: theirs.filter((t) => !mine.has(t)).length,
    extra: ours.filter((t) => !all.has(t)).length,
    duplicatesDropped: aggregate.duplicateCount,
  };
}

// ---- run ---------------------------------------------------------------------------------
// Warm up the fold and both encoders (JIT) so the measured rounds compare steady states.
{
  const aggregate = await busyUntil(
    takeChunkedCpuProfile(openThreadTarget(), { ...chunkOptions(600), chunkMs: 200 }),
    wideRequest,
  );
  aggregate.encodePprof();
  encodePprof(cpuProfileToPprof(aggregate.toCpuProfile()));
  ddTime.start({ intervalMicros: INTERVAL_US, durationMillis: 60_000 });
  await runBlock(wideRequest, 20_000);
  ddEncode(ddTime.stop());
}

const overheads: Record<string, Awaited<ReturnType<typeof overhead>>> = {};
for (const [name, work] of Object.entries(workloads)) overheads[name] = await overhead(work);
const stops: Record<string, StopRound[]> = {};
for (const [name, work] of Object.entries(workloads)) {
  stops[name] = [];
  for (let r = 0; r < STOP_ROUNDS; r++) stops[name].push(await stopRound(work));
}
const sweeps = [];
for (const chunkMs of [100, 250, 500, 1000, 2000]) sweeps.push(await sweep(wideRequest, chunkMs));
const lost = await lostSamples(wideRequest);

// ---- report ------------------------------------------------------------------------------
const env = environment();
const pct = (ratio: number): string => `${ratio.toFixed(3)}x (${((ratio - 1) * 100).toFixed(1)}%)`;
const labels = {
  hotpath: 'hotpath, 1 ms sampling',
  hotpath10: 'hotpath, 10 ms sampling',
  datadog: '@datadog/pprof wall, 1 ms',
};
const ms = (n: number): string => `${n.toFixed(1)} ms`;
console.log(
  `node ${env.node}, ${env.cpu}, ${env.cores} cores; chunks of ${CHUNK_MS} ms, last chunk at most ${LAST_CHUNK_MS} ms`,
);
for (const [name, o] of Object.entries(overheads)) {
  console.log(
    `profiling overhead, ${name}: ${ROUNDS} paired rounds of ${o.ops} operations (~${BLOCK_MS} ms), on/off`,
  );
  for (const mode of onModes) {
    console.log(
      `  ${labels[mode].padEnd(26)}  main thread ${pct(median(o.main[mode]!))}   process CPU ${pct(median(o.proc[mode]!))}`,
    );
  }
}
const med = (rounds: StopRound[], key: keyof StopRound): number =>
  median(rounds.map((r) => r[key]));
for (const [name, rounds] of Object.entries(stops)) {
  console.log(
    `stop -> gzip pprof bytes, ${PROFILE_SECONDS} s profile of the ${name} (${med(rounds, 'nodes')} nodes, ${med(rounds, 'samples')} samples, ${med(rounds, 'chunks')} chunks), median of ${STOP_ROUNDS}`,
  );
  console.log(
    `  ${labels.hotpath.padEnd(26)}  wall ${ms(med(rounds, 'hotpathMs'))}   process CPU ${ms(med(rounds, 'hotpathCpuMs'))}   ${med(rounds, 'hotpathKB').toFixed(1)} KB`,
  );
  console.log(
    `  ${labels.datadog.padEnd(26)}  wall ${ms(med(rounds, 'datadogMs'))}   process CPU ${ms(med(rounds, 'datadogCpuMs'))}   ${med(rounds, 'datadogKB').toFixed(1)} KB`,
  );
  console.log(
    `    hotpath steps: last chunk stop ${ms(med(rounds, 'lastStopMs'))} (${med(rounds, 'lastChunkNodes')} nodes), fold + encode + compress its part ${ms(med(rounds, 'foldLastMs'))}, finish ${ms(med(rounds, 'finishMs'))}; rotations during the window ${ms(med(rounds, 'rotationCpuMsPerS'))} CPU per second`,
  );
  console.log(
    `    same profile: whole tree encoded + gzip at the end ${ms(med(rounds, 'oneShotMs'))}, pprof-format encoder + gzip ${ms(med(rounds, 'pprofFormatMs'))}, .cpuprofile JSON ${ms(med(rounds, 'cpuprofileMs'))}, flame graph page ${ms(med(rounds, 'flamegraphMs'))}`,
  );
}
console.log('chunk length sweep, wide call tree, 3 s profiles (medians per chunk)');
for (const s of sweeps) {
  console.log(
    `  ${String(s.chunkMs).padStart(5)} ms chunks: stop ${ms(s.stopMs)} wall, ${ms(s.stopCpuMs)} CPU, ${s.nodesPerChunk} nodes; stops cost ${ms(s.stopCpuMsPerS)} CPU per second`,
  );
}
console.log(
  `samples lost between chunks, 5 s wide call tree, ${lost.chunks} chunks: ${lost.missing} of ${lost.referenceSamples} (extra ${lost.extra}; overlap duplicates dropped ${lost.duplicatesDropped})`,
);
writeResult('profile-overhead', {
  rounds: ROUNDS,
  intervalUs: INTERVAL_US,
  chunkMs: CHUNK_MS,
  lastChunkMs: LAST_CHUNK_MS,
  profileSeconds: PROFILE_SECONDS,
  overhead: Object.fromEntries(
    Object.entries(overheads).map(([name, o]) => [
      name,
      {
        ops: o.ops,
        mainThreadRatio: Object.fromEntries(onModes.map((m) => [m, median(o.main[m]!)])),
        processCpuRatio: Object.fromEntries(onModes.map((m) => [m, median(o.proc[m]!)])),
        perRound: o,
      },
    ]),
  ),
  stopToBytes: Object.fromEntries(
    Object.entries(stops).map(([name, rounds]) => [
      name,
      {
        hotpathMs: med(rounds, 'hotpathMs'),
        hotpathCpuMs: med(rounds, 'hotpathCpuMs'),
        datadogMs: med(rounds, 'datadogMs'),
        datadogCpuMs: med(rounds, 'datadogCpuMs'),
        rounds,
      },
    ]),
  ),
  sweeps,
  lost,
  sink,
});
