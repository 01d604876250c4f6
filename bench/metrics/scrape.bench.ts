/**
 * Scrape cost with 1,000 series (500 labelled counter series + 500 labelled histogram
 * series): the longest stretch the event loop is held, ours vs prom-client, measured from
 * outside by a setImmediate ping loop running during the scrape (the largest gap between two
 * pings), plus the wall time of the whole scrape. Interleaved over rounds.
 *
 *   npm run bench -- metrics --filter scrape
 */
import { MetricsRegistry } from 'hotpath/metrics';
import promClient from 'prom-client';
import { median, printRatios, writeResult } from '../lib/report.js';

const SERIES_PER_METRIC = 500;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 15);

const ours = new MetricsRegistry();
const oursCounter = ours.counter({
  name: 'app_events_total',
  help: 'events',
  labelNames: ['route', 'method'],
});
const oursHistogram = ours.histogram({
  name: 'app_latency_seconds',
  help: 'latency',
  labelNames: ['route', 'method'],
  lowest: 1,
  highest: 60e6,
  scale: 1e-6,
});
const prom = new promClient.Registry();
const promCounter = new promClient.Counter({
  name: 'app_events_total',
  help: 'events',
  labelNames: ['route', 'method'],
  registers: [prom],
});
const promHistogram = new promClient.Histogram({
  name: 'app_latency_seconds',
  help: 'latency',
  labelNames: ['route', 'method'],
  registers: [prom],
});

let seed = 1;
const random = (): number => {
  seed = (seed * 16807) % 2147483647;
  return seed / 2147483647;
};
for (let i = 0; i < SERIES_PER_METRIC; i++) {
  const route = `/api/resource${i >> 1}/:id`;
  const method = i % 2 === 0 ? 'GET' : 'POST';
  const c = oursCounter.labels(route, method);
  const h = oursHistogram.labels(route, method);
  for (let k = 0; k < 50; k++) {
    const micros = Math.exp(6 + random() * 8);
    c.inc();
    h.record(micros);
    promCounter.inc({ route, method });
    promHistogram.observe({ route, method }, micros / 1e6);
  }
}

/**
 * Runs `scrape` while a setImmediate loop measures the gaps between two turns of the loop:
 * in wall time, and in CPU time (process.cpuUsage), which leaves out the time the process was
 * not running at all, so it stays meaningful on a loaded machine.
 */
async function measure(
  scrape: () => Promise<string>,
): Promise<{ longestMs: number; longestCpuMs: number; totalMs: number; bytes: number }> {
  let running = true;
  let last = performance.now();
  let lastCpu = process.cpuUsage();
  let longest = 0;
  let longestCpu = 0;
  const ping = (): void => {
    const now = performance.now();
    const cpu = process.cpuUsage(lastCpu);
    lastCpu = process.cpuUsage();
    const cpuMs = (cpu.user + cpu.system) / 1000;
    if (now - last > longest) longest = now - last;
    if (cpuMs > longestCpu) longestCpu = cpuMs;
    last = now;
    if (running) setImmediate(ping);
  };
  setImmediate(ping);
  await new Promise((resolve) => setImmediate(resolve));
  const start = performance.now();
  const text = await scrape();
  const totalMs = performance.now() - start;
  running = false;
  await new Promise((resolve) => setImmediate(resolve));
  return { longestMs: longest, longestCpuMs: longestCpu, totalMs, bytes: text.length };
}

/** What the Fastify plugin does: hand each slice to the socket, never building the whole text. */
async function oursStreamed(): Promise<string> {
  let bytes = 0;
  let last = '';
  for await (const chunk of ours.stream()) {
    bytes += chunk.length;
    last = chunk;
  }
  return last.padEnd(bytes);
}

const candidates = {
  'hotpath registry.stream()': oursStreamed,
  'hotpath registry.metrics()': () => ours.metrics(),
  'prom-client registry.metrics()': () => prom.metrics(),
};
for (const fn of Object.values(candidates)) await measure(fn);

const samples: Record<
  string,
  { longestMs: number[]; longestCpuMs: number[]; totalMs: number[]; bytes: number }
> = {};
for (let r = 0; r < ROUNDS; r++) {
  for (const [name, fn] of Object.entries(candidates)) {
    const m = await measure(fn);
    samples[name] ??= { longestMs: [], longestCpuMs: [], totalMs: [], bytes: m.bytes };
    samples[name].longestMs.push(m.longestMs);
    samples[name].longestCpuMs.push(m.longestCpuMs);
    samples[name].totalMs.push(m.totalMs);
  }
}
const longest = Object.fromEntries(
  Object.entries(samples).map(([k, v]) => [k, median(v.longestMs)]),
);
const longestCpu = Object.fromEntries(
  Object.entries(samples).map(([k, v]) => [k, median(v.longestCpuMs)]),
);
const total = Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, median(v.totalMs)]));
console.log(
  `1,000 series (${SERIES_PER_METRIC} counter + ${SERIES_PER_METRIC} histogram), ${ROUNDS} rounds, medians`,
);
for (const name of Object.keys(samples)) {
  console.log(
    `  ${name.padEnd(32)} longest stretch: wall ${longest[name]!.toFixed(3)} ms,` +
      ` CPU ${longestCpu[name]!.toFixed(3)} ms` +
      `   whole scrape ${total[name]!.toFixed(2)} ms   ${(samples[name]!.bytes / 1024).toFixed(0)} KiB`,
  );
}
// Ratios of "stretches per second" so bigger is better for hotpath, as printRatios expects.
printRatios(
  'longest blocking stretch in CPU time, inverse (1/ms)',
  Object.fromEntries(Object.entries(longestCpu).map(([k, v]) => [k, 1 / v])),
  '1/ms',
  'hotpath registry.stream()',
);
writeResult('metrics-scrape', {
  series: 2 * SERIES_PER_METRIC,
  rounds: ROUNDS,
  samples,
  longest,
  total,
});
