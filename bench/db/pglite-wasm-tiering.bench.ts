/**
 * PGlite's WASM compiled as V8 does by default (Liftoff, hot functions tiered up to TurboFan)
 * against Liftoff only (`--liftoff-only`, what the embedded database's worker sets while
 * PGlite compiles): the process's RSS after a query mix, CPU and wall time per round of the
 * mix, and query latency. Each variant runs in its own process (V8 flags are process-wide,
 * and memory once grown is kept), alternating, several rounds; prints medians and ratios.
 *
 *   npm run bench -- db --filter pglite-wasm-tiering
 *   ITERATIONS=4000 BENCH_ROUNDS=3 npm run bench -- db --filter pglite-wasm-tiering
 *
 * One iteration: an insert, a keyset-style page of 20 rows, an aggregate (the service's mix).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { environment, median, writeResult } from '../lib/report.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const ITERATIONS = Number(process.env.ITERATIONS ?? 4000);

interface Sample {
  rssMb: number;
  cpuUsPerIteration: number;
  wallMsPerIteration: number;
  p50Ms: number;
  p99Ms: number;
}

const child = (pglite: string, dataDir: string): string => `
import { readFileSync } from 'node:fs';
const { PGlite } = await import(${JSON.stringify(pglite)});
const db = await PGlite.create(${JSON.stringify(dataDir)}, {
  startParams: [...PGlite.defaultStartParams, '-c', 'shared_buffers=16MB'],
});
await db.exec('CREATE TABLE IF NOT EXISTS p (id bigserial PRIMARY KEY, user_id int, amount int, created_at timestamptz DEFAULT now(), note text); CREATE INDEX IF NOT EXISTS p_u ON p (user_id, created_at, id)');
const n = ${ITERATIONS};
const latencies = [];
const cpu0 = process.cpuUsage();
const wall0 = performance.now();
for (let i = 0; i < n; i++) {
  const start = performance.now();
  await db.query('INSERT INTO p (user_id, amount, note) VALUES ($1, $2, $3)', [i % 500, i, 'x'.repeat(50)]);
  await db.query('SELECT * FROM p WHERE user_id = $1 ORDER BY created_at DESC, id DESC LIMIT 20', [i % 500]);
  await db.query('SELECT count(*), sum(amount) FROM p WHERE user_id = $1', [i % 500]);
  latencies.push(performance.now() - start);
}
const cpu = process.cpuUsage(cpu0);
const wall = performance.now() - wall0;
latencies.sort((a, b) => a - b);
const rssKb = Number(/^VmRSS:\\s+(\\d+)/m.exec(readFileSync('/proc/self/status', 'utf8'))[1]);
await db.close();
console.log(JSON.stringify({
  rssMb: rssKb / 1024,
  cpuUsPerIteration: (cpu.user + cpu.system) / n,
  wallMsPerIteration: wall / n,
  p50Ms: latencies[Math.floor(n * 0.5)],
  p99Ms: latencies[Math.floor(n * 0.99)],
}));
`;

const pglite = import.meta.resolve('@electric-sql/pglite');
const dir = mkdtempSync(join(tmpdir(), 'hotpath-wasm-tiering-'));
const variants = { 'default tiering': [] as string[], 'liftoff only': ['--liftoff-only'] };
const samples: Record<string, Sample[]> = { 'default tiering': [], 'liftoff only': [] };
try {
  const env = environment();
  console.log(
    `PGlite WASM tiering: ${ITERATIONS} iterations x ${ROUNDS} rounds per variant  (node ${env.node}, ${env.cpu}, ${env.cores} cores)`,
  );
  // A data directory initialised once, so no variant pays for initdb's memory.
  const init = spawnSync(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      child(pglite, join(dir, 'data')).replace(/const n = \d+;/, 'const n = 1;'),
    ],
    { encoding: 'utf8' },
  );
  if (init.status !== 0) throw new Error(init.stderr);
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, flags] of Object.entries(variants)) {
      const run = spawnSync(
        process.execPath,
        [...flags, '--input-type=module', '-e', child(pglite, join(dir, 'data'))],
        { encoding: 'utf8' },
      );
      if (run.status !== 0) throw new Error(`${name}: ${run.stderr}`);
      const sample = JSON.parse(run.stdout.trim().split('\n').pop()!) as Sample;
      samples[name]!.push(sample);
      console.log(
        `  round ${round + 1} ${name.padEnd(16)} RSS ${sample.rssMb.toFixed(0)} MB, CPU ${(sample.cpuUsPerIteration / 1000).toFixed(2)} ms/iteration, wall ${sample.wallMsPerIteration.toFixed(2)} ms, p50 ${sample.p50Ms.toFixed(2)} ms, p99 ${sample.p99Ms.toFixed(2)} ms`,
      );
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
const summary: Record<string, Record<keyof Sample, number>> = {};
for (const [name, list] of Object.entries(samples)) {
  const m = (key: keyof Sample) => median(list.map((s) => s[key]));
  summary[name] = {
    rssMb: m('rssMb'),
    cpuUsPerIteration: m('cpuUsPerIteration'),
    wallMsPerIteration: m('wallMsPerIteration'),
    p50Ms: m('p50Ms'),
    p99Ms: m('p99Ms'),
  };
}
const a = summary['default tiering']!;
const b = summary['liftoff only']!;
console.log(
  `median: RSS ${a.rssMb.toFixed(0)} -> ${b.rssMb.toFixed(0)} MB (${(b.rssMb / a.rssMb).toFixed(2)}x), CPU per iteration ${(b.cpuUsPerIteration / a.cpuUsPerIteration).toFixed(2)}x, wall ${(b.wallMsPerIteration / a.wallMsPerIteration).toFixed(2)}x, p50 ${a.p50Ms.toFixed(2)} -> ${b.p50Ms.toFixed(2)} ms, p99 ${a.p99Ms.toFixed(2)} -> ${b.p99Ms.toFixed(2)} ms (liftoff only vs default)`,
);
writeResult('db-pglite-wasm-tiering', {
  iterations: ITERATIONS,
  rounds: ROUNDS,
  samples,
  summary,
});
