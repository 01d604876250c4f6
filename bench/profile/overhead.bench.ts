/**
 * Profiling overhead and stop-to-bytes latency: hotpath/profile (V8 CPU profiler through
 * node:inspector) vs @datadog/pprof's wall profiler (native addon), in one process.
 *
 * 1. Overhead: a fixed CPU-bound workload (a request-handler-like mix of JSON, validation,
 *    arithmetic and string rendering) runs in paired blocks: profiler off, hotpath on,
 *    @datadog/pprof on, in a rotating order each round. Per round the ratio on/off is taken
 *    for the main thread's CPU time (Linux /proc/thread-self/schedstat, in nanoseconds: wall
 *    time would count the time other processes hold the CPU) and for the process CPU time
 *    (which adds the profiler's sampling thread). Medians of the per-round ratios are
 *    printed. Both profilers sample every 1 ms.
 * 2. Stop to bytes: a 10 s profile of the same workload, then the time from "stop" to the
 *    gzip pprof bytes (hotpath: Profiler.stop + source maps + pprof encoding + gzip;
 *    @datadog/pprof: time.stop + encodeSync), over several rounds.
 *
 *   npm run bench -- profile
 *   BENCH_ROUNDS=15 BENCH_PROFILE_SECONDS=10 npm run bench -- profile
 */
import { readFileSync } from 'node:fs';
import { time as ddTime, encodeSync as ddEncode } from '@datadog/pprof';
import type { CpuProfile } from 'hotpath/profile';
import {
  cpuProfileToPprof,
  encodePprof,
  openThreadTarget,
  SourceMapResolver,
} from 'hotpath/profile';
import { environment, median, writeResult } from '../lib/report.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 15);
const STOP_ROUNDS = Number(process.env.BENCH_STOP_ROUNDS ?? 3);
const PROFILE_SECONDS = Number(process.env.BENCH_PROFILE_SECONDS ?? 10);
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

/** CPU time of the calling thread in ms (Linux); falls back to wall time elsewhere. */
function threadCpuMs(): number {
  try {
    return Number(readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0]) / 1e6;
  } catch {
    return performance.now();
  }
}

let sink = 0;
function runBlock(ops: number): { wallMs: number; cpuMs: number } {
  const cpu0 = process.cpuUsage();
  const t0 = threadCpuMs();
  for (let i = 0; i < ops; i++) sink += handleRequest(i);
  const wallMs = threadCpuMs() - t0;
  const cpu = process.cpuUsage(cpu0);
  return { wallMs, cpuMs: (cpu.user + cpu.system) / 1000 };
}

// Calibrate ~150 ms blocks (after warming up the JIT).
runBlock(5000);
let ops = 2000;
while (runBlock(ops).wallMs < 150) ops *= 2;

// ---- profilers ---------------------------------------------------------------------------
const target = openThreadTarget();
await target.post('Profiler.enable');
await target.post('Profiler.setSamplingInterval', { interval: INTERVAL_US });
const resolver = new SourceMapResolver();

type Mode = 'off' | 'hotpath' | 'hotpath10' | 'datadog';
async function block(mode: Mode): Promise<{ wallMs: number; cpuMs: number }> {
  if (mode === 'hotpath' || mode === 'hotpath10') {
    await target.post('Profiler.setSamplingInterval', {
      interval: mode === 'hotpath' ? INTERVAL_US : 10_000,
    });
    await target.post('Profiler.start');
  }
  if (mode === 'datadog') ddTime.start({ intervalMicros: INTERVAL_US, durationMillis: 60_000 });
  const result = runBlock(ops);
  if (mode === 'hotpath' || mode === 'hotpath10') await target.post('Profiler.stop');
  if (mode === 'datadog') ddTime.stop();
  return result;
}

const modes: Mode[] = ['off', 'hotpath', 'hotpath10', 'datadog'];
const onModes = ['hotpath', 'hotpath10', 'datadog'] as const;
const wallRatios: Record<string, number[]> = { hotpath: [], hotpath10: [], datadog: [] };
const cpuRatios: Record<string, number[]> = { hotpath: [], hotpath10: [], datadog: [] };
for (let r = 0; r < ROUNDS; r++) {
  const order = [...modes.slice(r % modes.length), ...modes.slice(0, r % modes.length)];
  const results: Partial<Record<Mode, { wallMs: number; cpuMs: number }>> = {};
  for (const mode of order) results[mode] = await block(mode);
  for (const mode of onModes) {
    wallRatios[mode]!.push(results[mode]!.wallMs / results.off!.wallMs);
    cpuRatios[mode]!.push(results[mode]!.cpuMs / results.off!.cpuMs);
  }
}

// ---- stop to bytes, 10 s profiles -----------------------------------------------------------
// Two workloads: the request mix above (a few dozen call-tree nodes) and a wide call tree of
// 300 generated functions calling each other 6 deep (thousands of nodes, closer to a real
// service's profile).
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

await target.post('Profiler.setSamplingInterval', { interval: INTERVAL_US });
async function busyFor(ms: number, work: (i: number) => number): Promise<void> {
  const end = performance.now() + ms;
  let i = 0;
  while (performance.now() < end) {
    for (let k = 0; k < 200; k++) sink += work(i++);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

interface StopResult {
  stopMs: Record<'hotpath' | 'datadog', number[]>;
  /** Main-thread CPU time of the same span: what the latency is on an otherwise idle core. */
  stopCpuMs: Record<'hotpath' | 'datadog', number[]>;
  inspectorStopMs: number[];
  bytes: Record<'hotpath' | 'datadog', number[]>;
  nodes: number[];
}

async function stopToBytes(work: (i: number) => number, rounds: number): Promise<StopResult> {
  const result: StopResult = {
    stopMs: { hotpath: [], datadog: [] },
    stopCpuMs: { hotpath: [], datadog: [] },
    inspectorStopMs: [],
    bytes: { hotpath: [], datadog: [] },
    nodes: [],
  };
  for (let r = 0; r < rounds; r++) {
    await target.post('Profiler.start');
    await busyFor(PROFILE_SECONDS * 1000, work);
    let c0 = threadCpuMs();
    let t0 = performance.now();
    const { profile } = (await target.post('Profiler.stop')) as { profile: CpuProfile };
    const stopped = performance.now();
    const ours = encodePprof(
      cpuProfileToPprof(resolver.mapCpuProfile(profile), { intervalUs: INTERVAL_US }),
    );
    result.stopMs.hotpath.push(performance.now() - t0);
    result.stopCpuMs.hotpath.push(threadCpuMs() - c0);
    result.inspectorStopMs.push(stopped - t0);
    result.bytes.hotpath.push(ours.length);
    result.nodes.push(profile.nodes.length);

    ddTime.start({ intervalMicros: INTERVAL_US, durationMillis: 60_000 });
    await busyFor(PROFILE_SECONDS * 1000, work);
    c0 = threadCpuMs();
    t0 = performance.now();
    const theirs = ddEncode(ddTime.stop());
    result.stopMs.datadog.push(performance.now() - t0);
    result.stopCpuMs.datadog.push(threadCpuMs() - c0);
    result.bytes.datadog.push(theirs.length);
  }
  return result;
}

// Warm up both encoders (JIT) so the measured rounds compare steady states.
const savedSeconds = PROFILE_SECONDS; // printed with the results
await (async () => {
  await target.post('Profiler.start');
  await busyFor(200, wideRequest);
  const { profile } = (await target.post('Profiler.stop')) as { profile: CpuProfile };
  encodePprof(cpuProfileToPprof(resolver.mapCpuProfile(profile)));
  ddTime.start({ intervalMicros: INTERVAL_US, durationMillis: 60_000 });
  await busyFor(200, wideRequest);
  ddEncode(ddTime.stop());
})();
const stops = {
  'request mix': await stopToBytes(handleRequest, STOP_ROUNDS),
  'wide call tree': await stopToBytes(wideRequest, STOP_ROUNDS),
};
await target.close();

// ---- report ------------------------------------------------------------------------------
const env = environment();
const pct = (ratio: number): string => `${ratio.toFixed(3)}x (${((ratio - 1) * 100).toFixed(1)}%)`;
const labels = {
  hotpath: 'hotpath, 1 ms sampling',
  hotpath10: 'hotpath, 10 ms sampling',
  datadog: '@datadog/pprof wall, 1 ms',
};
console.log(
  `profiling overhead, ${ROUNDS} paired rounds of ${ops} requests, on/off  (node ${env.node}, ${env.cpu}, ${env.cores} cores)`,
);
for (const mode of onModes) {
  console.log(
    `  ${labels[mode].padEnd(26)}  main thread ${pct(median(wallRatios[mode]!))}   process CPU ${pct(median(cpuRatios[mode]!))}`,
  );
}
for (const [name, stop] of Object.entries(stops)) {
  console.log(
    `stop -> gzip pprof bytes, ${savedSeconds} s profile of the ${name} (${median(stop.nodes)} nodes), median of ${STOP_ROUNDS}`,
  );
  for (const mode of ['hotpath', 'datadog'] as const) {
    console.log(
      `  ${labels[mode].padEnd(26)}  wall ${median(stop.stopMs[mode]).toFixed(1)} ms   main-thread CPU ${median(stop.stopCpuMs[mode]).toFixed(1)} ms   ${(median(stop.bytes[mode]) / 1024).toFixed(1)} KB` +
        (mode === 'hotpath'
          ? `   (of which Profiler.stop ${median(stop.inspectorStopMs).toFixed(1)} ms)`
          : ''),
    );
  }
}
writeResult('profile-overhead', {
  rounds: ROUNDS,
  opsPerBlock: ops,
  intervalUs: INTERVAL_US,
  mainThreadRatio: Object.fromEntries(onModes.map((m) => [m, median(wallRatios[m]!)])),
  processCpuRatio: Object.fromEntries(onModes.map((m) => [m, median(cpuRatios[m]!)])),
  perRound: { wallRatios, cpuRatios },
  profileSeconds: savedSeconds,
  stopToBytesMs: Object.fromEntries(
    Object.entries(stops).map(([name, stop]) => [
      name,
      {
        hotpath: median(stop.stopMs.hotpath),
        datadog: median(stop.stopMs.datadog),
        hotpathCpu: median(stop.stopCpuMs.hotpath),
        datadogCpu: median(stop.stopCpuMs.datadog),
        inspectorStop: median(stop.inspectorStopMs),
        nodes: median(stop.nodes),
        rounds: stop,
      },
    ]),
  ),
  sink,
});
