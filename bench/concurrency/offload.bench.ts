/**
 * Offloading a CPU step: the payments service's receipt signer (~3 ms of CPU: scrypt, a hash
 * chain, Ed25519) run inline on the event loop vs on a hotpath/concurrency WorkerPool, in a
 * minimal Fastify server (bench/concurrency/offload-server.ts, one process per mode on
 * 127.0.0.1). hotpath/load drives it with an open model: receipts at RECEIPT_RATE/s and a
 * cheap route at CHEAP_RATE/s at once, for a few seconds per round, modes interleaved over
 * rounds. Reports the server's event-loop delay p99 and the cheap route's p99 (from intended
 * send time) per mode, against an idle baseline (cheap route only).
 *
 *   npm run bench -- concurrency --filter offload
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { load } from 'hotpath/load';
import { median, environment, writeResult } from '../lib/report.js';

const ROUNDS = Number(process.env.ROUNDS ?? 3);
const DURATION_MS = Number(process.env.DURATION_MS ?? 3000);
const RECEIPT_RATE = Number(process.env.RECEIPT_RATE ?? 120);
const CHEAP_RATE = 200;

interface Server {
  child: ChildProcess;
  url: string;
}

async function start(mode: 'inline' | 'pool'): Promise<Server> {
  const child = spawn(
    process.execPath,
    ['--conditions=source', '--import', 'tsx', 'bench/concurrency/offload-server.ts', mode],
    { stdio: ['ignore', 'pipe', 'inherit'], cwd: new URL('../..', import.meta.url) },
  );
  const lines = createInterface({ input: child.stdout! });
  for await (const line of lines) {
    const { port } = JSON.parse(line) as { port: number };
    return { child, url: `http://127.0.0.1:${port}` };
  }
  throw new Error(`the ${mode} server exited before listening`);
}

async function round(server: Server, receiptRate: number) {
  await fetch(`${server.url}/loop-delay`).then((r) => r.json());
  const common = { durationMs: DURATION_MS, warmupMs: 500, connections: 64, timeoutMs: 10_000 };
  const [cheap, receipts] = await Promise.all([
    load({ url: `${server.url}/cheap`, rate: CHEAP_RATE, ...common }),
    receiptRate > 0
      ? load({ url: `${server.url}/receipt`, rate: receiptRate, ...common })
      : Promise.resolve(undefined),
  ]);
  const { p99Ms } = (await fetch(`${server.url}/loop-delay`).then((r) => r.json())) as {
    p99Ms: number;
  };
  return {
    loopP99Ms: p99Ms,
    cheapP99Ms: (cheap.latency.percentiles['99'] ?? NaN) / 1000,
    // From the moment the request was written: without the generator's own send lag.
    cheapActualP99Ms: (cheap.actualLatency.percentiles['99'] ?? NaN) / 1000,
    generatorSendLagP99Ms:
      Math.max(cheap.generator.sendLagP99, receipts?.generator.sendLagP99 ?? 0) / 1000,
    receiptP99Ms: receipts === undefined ? NaN : (receipts.latency.percentiles['99'] ?? NaN) / 1000,
    receiptsPerSecond: receipts?.requestsPerSecond ?? 0,
    errors: cheap.completed - (cheap.statuses['200'] ?? 0),
  };
}

const servers = { inline: await start('inline'), pool: await start('pool') };
const cases = [
  ['idle (cheap route only)', servers.pool, 0],
  ['inline', servers.inline, RECEIPT_RATE],
  ['pool', servers.pool, RECEIPT_RATE],
] as const;
const samples: Record<string, Awaited<ReturnType<typeof round>>[]> = {};
try {
  for (let r = 0; r < ROUNDS; r++) {
    for (const [name, server, rate] of cases)
      (samples[name] ??= []).push(await round(server, rate));
  }
} finally {
  for (const s of Object.values(servers)) s.child.kill('SIGTERM');
}

const env = environment();
console.log(
  `offload: receipts at ${RECEIPT_RATE}/s + cheap route at ${CHEAP_RATE}/s, ${DURATION_MS} ms x ${ROUNDS} rounds` +
    `  (node ${env.node}, ${env.cpu}, ${env.cores} cores)`,
);
const summary: Record<string, Record<string, number>> = {};
for (const [name, runs] of Object.entries(samples)) {
  const m = (k: keyof (typeof runs)[number]) => median(runs.map((x) => x[k]));
  summary[name] = {
    loopP99Ms: m('loopP99Ms'),
    cheapP99Ms: m('cheapP99Ms'),
    cheapActualP99Ms: m('cheapActualP99Ms'),
    generatorSendLagP99Ms: m('generatorSendLagP99Ms'),
    receiptP99Ms: m('receiptP99Ms'),
    receiptsPerSecond: m('receiptsPerSecond'),
  };
  const s = summary[name]!;
  console.log(
    `  ${name.padEnd(24)} loop delay p99 ${s.loopP99Ms!.toFixed(1)} ms   cheap p99 ${s.cheapP99Ms!.toFixed(1)} ms` +
      ` (from write ${s.cheapActualP99Ms!.toFixed(1)} ms, generator send lag p99 ${s.generatorSendLagP99Ms!.toFixed(1)} ms)` +
      (Number.isNaN(s.receiptP99Ms)
        ? ''
        : `   receipt p99 ${s.receiptP99Ms!.toFixed(1)} ms, ${s.receiptsPerSecond!.toFixed(0)}/s`),
  );
}
writeResult('concurrency-offload', {
  receiptRate: RECEIPT_RATE,
  cheapRate: CHEAP_RATE,
  samples,
  summary,
});
