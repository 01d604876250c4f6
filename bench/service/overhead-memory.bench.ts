/**
 * The embedded-mode payments service's memory: the service on PGlite (a new data directory on
 * disk, the same directory again, `memory://`) under the request mix at a steady rate. Prints,
 * per variant, the RSS after start, its peak and at the end, the JS heap, where the RSS is
 * (PGlite's WASM memory, other anonymous memory, file-backed pages), and the load's p50/p99
 * latency, so a memory setting's cost in latency shows in the same run. Writes
 * bench/results/service-memory.json.
 *
 *   npm run bench -- service --filter overhead-memory
 *   VARIANTS=disk,restart,memory ROUNDS=3 npm run bench -- service --filter overhead-memory
 *   RUNNERS=start,tsx BASELINE=HEAD~1 npm run bench -- service --filter overhead-memory
 *
 * RUNNERS picks how the service runs (default `start`):
 *   start     what `npm start` runs: scripts/start.mjs, which compiles the sources to dist/
 *             and runs `node dist/service/main.js` with its memory flags; here on a copy of
 *             the sources in a temporary directory (never the checkout's dist/), measuring
 *             the service process (start.mjs's child);
 *   tsx       from the TypeScript sources through tsx (`npm run dev`), tsx's loader in the
 *             main thread and in the PGlite worker;
 *   baseline  like `start`, with src/db/embedded/ and scripts/start.mjs as they were at the
 *             git ref BASELINE (set by BASELINE=<ref>): an A/B in the same run.
 * VARIANTS picks some of disk (a new directory), restart (the same directory again), memory
 * (`memory://`) and server (default: disk,restart,memory,server). ROUNDS (default 1) repeats
 * every runner and variant, interleaved, and prints the medians. RSS is read from
 * /proc/<pid>/status every SAMPLE_MS (250) ms; the peak is the kernel's high-water mark
 * (VmHWM), which no sampling can miss. The split is from /proc/<pid>/smaps: the WASM memory
 * is the read-write mapping just before V8's guard region (an inaccessible mapping of GiBs).
 *
 * Needs Linux (/proc). For comparison, the same service on the PostgreSQL server of
 * scripts/services.sh when it is up (a fresh database, dropped after).
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import pg from 'pg';
import { hotpathCommand, tsxCommand } from '../lib/commands.js';
import { environment, median, writeResult } from '../lib/report.js';

const root = resolve(import.meta.dirname, '..', '..');
const RATE = Number(process.env.RATE ?? 300);
const adminUrl =
  process.env.TEST_DATABASE_URL ??
  `postgres://postgres@127.0.0.1:${process.env.HOTPATH_PG_PORT ?? 54329}/postgres`;
const DURATION_S = Number(process.env.DURATION_S ?? 120);
const ROUNDS = Number(process.env.ROUNDS ?? 1);
const SAMPLE_MS = Number(process.env.SAMPLE_MS ?? 250);
const VARIANTS = new Set((process.env.VARIANTS ?? 'disk,restart,memory,server').split(','));
const BASELINE = process.env.BASELINE;
const RUNNERS = (process.env.RUNNERS ?? (BASELINE === undefined ? 'start' : 'baseline,start'))
  .split(',')
  .filter((r) => r !== '');
for (const runner of RUNNERS) {
  if (!['start', 'tsx', 'baseline'].includes(runner)) throw new Error(`RUNNERS: unknown ${runner}`);
  if (runner === 'baseline' && BASELINE === undefined)
    throw new Error('RUNNERS=baseline needs BASELINE=<git ref>');
}

const mix = {
  requests: [
    {
      name: 'create',
      weight: 2,
      method: 'POST',
      path: '/api/payments',
      headers: { 'content-type': 'application/json', 'idempotency-key': 'mem-{{seq}}' },
      body: { user_id: '{{int 1 500}}', amount: '{{int 100 90000}}', currency: 'EUR' },
    },
    { name: 'list', weight: 3, method: 'GET', path: '/api/users/{{int 1 500}}/payments' },
    { name: 'summary', weight: 3, method: 'GET', path: '/api/users/{{int 1 500}}/summary' },
    { name: 'live', weight: 2, method: 'GET', path: '/health/live' },
  ],
};

function statusMb(pid: number, field: 'VmRSS' | 'VmHWM' | 'RssAnon' | 'RssFile'): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return kb / 1024;
}

const rssMb = (pid: number): number => statusMb(pid, 'VmRSS');

/** Where the RSS is, in MB, from /proc/<pid>/smaps. */
interface RssSplit {
  /** PGlite's WASM memory: the mapping V8 put before its guard region of several GiB. */
  wasm: number;
  /** Other anonymous memory: JS heaps, malloc's arenas, ArrayBuffers, thread stacks. */
  otherAnon: number;
  /** File-backed pages: the node binary and libraries. */
  file: number;
}

function rssSplit(pid: number): RssSplit {
  // One entry per mapping; the WASM memory is the read-write anonymous mapping that V8 put
  // just before its guard region, an inaccessible mapping of several GiB.
  const maps: { rssKb: number; sizeKb: number; file: boolean; access: string }[] = [];
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const head = /^[0-9a-f]+-[0-9a-f]+ (\S+) \S+ \S+ (\d+)/.exec(line);
    if (head !== null) {
      maps.push({ rssKb: 0, sizeKb: 0, file: head[2] !== '0', access: head[1]! });
      continue;
    }
    const field = /^(Size|Rss):\s+(\d+) kB/.exec(line);
    const map = maps.at(-1);
    if (field === null || map === undefined) continue;
    if (field[1] === 'Size') map.sizeKb = Number(field[2]);
    else map.rssKb = Number(field[2]);
  }
  const split: RssSplit = { wasm: 0, otherAnon: 0, file: 0 };
  maps.forEach((map, i) => {
    const next = maps[i + 1];
    const beforeGuard =
      next !== undefined && next.access.startsWith('---') && next.sizeKb >= 4 * 1024 * 1024;
    if (map.file) split.file += map.rssKb / 1024;
    else if (beforeGuard && map.access.startsWith('rw')) split.wasm += map.rssKb / 1024;
    else split.otherAnon += map.rssKb / 1024;
  });
  return split;
}

async function heapMb(base: string): Promise<number | undefined> {
  const res = await fetch(`${base}/metrics`);
  const text = await res.text();
  const line = /^nodejs_heap_used_bytes(?:\{[^}]*\})? ([\d.e+]+)$/m.exec(text);
  return line === null ? undefined : Number(line[1]) / 1048576;
}

/**
 * A copy of the checkout's sources and scripts/start.mjs in `out`, with node_modules and
 * dashboard/ linked, so `hotpath/...` resolves to its own build; with `ref`, its
 * src/db/embedded/ and scripts/start.mjs are those of that git ref. Compiled as `npm start`
 * does (tsc -p tsconfig.build.json into its dist/): the checkout's own dist/ is never touched.
 * @returns the path of its scripts/start.mjs
 */
function buildTree(out: string, ref?: string): string {
  mkdirSync(join(out, 'scripts'), { recursive: true });
  for (const entry of [
    'src',
    'service',
    'cli',
    'package.json',
    'tsconfig.json',
    'tsconfig.build.json',
  ]) {
    cpSync(join(root, entry), join(out, entry), { recursive: true });
  }
  cpSync(join(root, 'scripts', 'start.mjs'), join(out, 'scripts', 'start.mjs'));
  if (ref !== undefined) {
    rmSync(join(out, 'src', 'db', 'embedded'), { recursive: true, force: true });
    const tar = execFileSync(
      'git',
      ['-C', root, 'archive', ref, '--', 'src/db/embedded', 'scripts/start.mjs'],
      {
        maxBuffer: 64 * 1024 * 1024,
      },
    );
    execFileSync('tar', ['-x', '-C', out], { input: tar });
  }
  for (const link of ['node_modules', 'dashboard']) symlinkSync(join(root, link), join(out, link));
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  const result = spawnSync(process.execPath, [tsc, '-p', join(out, 'tsconfig.build.json')], {
    encoding: 'utf8',
  });
  // Type errors still emit JavaScript: a checkout another change has half-edited builds anyway.
  if (result.status !== 0)
    console.log(
      `(tsc reported errors in ${out}; ran what it emitted)\n${result.stdout.slice(0, 2000)}`,
    );
  if (!existsSync(join(out, 'dist', 'service', 'main.js'))) throw new Error(`no build in ${out}`);
  return join(out, 'scripts', 'start.mjs');
}

function serviceCommand(runner: string, starts: Record<string, string>): string[] {
  if (runner === 'tsx') return tsxCommand('service/main.ts');
  return [process.execPath, starts[runner]!];
}

/** The service's pid: the command's own, or for scripts/start.mjs its one child's. */
async function servicePid(runner: string, child: ChildProcess): Promise<number> {
  if (runner === 'tsx') return child.pid!;
  const file = `/proc/${child.pid}/task/${child.pid}/children`;
  const pids = readFileSync(file, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  if (pids.length !== 1) throw new Error(`scripts/start.mjs has ${pids.length} children`);
  return pids[0]!;
}

function startService(
  command: string[],
  env: Record<string, string>,
): Promise<{ child: ChildProcess; base: string }> {
  const child = spawn(command[0]!, command.slice(1), {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`service not listening after 180 s:\n${lines.slice(-20).join('\n')}`));
    }, 180_000);
    const onLine = (line: string): void => {
      if (lines.length < 300) lines.push(line);
      const match = /payments service listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(line);
      if (match !== null) {
        clearTimeout(timer);
        resolve({ child, base: match[1]! });
      }
    };
    createInterface({ input: child.stdout! }).on('line', onLine);
    createInterface({ input: child.stderr! }).on('line', onLine);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`service exited with ${code}:\n${lines.slice(-20).join('\n')}`));
    });
  });
}

function runLoad(base: string, mixFile: string, jsonFile: string): Promise<string> {
  const [cmd, ...args] = hotpathCommand(
    'load',
    base,
    '--requests',
    mixFile,
    '--rate',
    String(RATE),
    '--duration',
    `${DURATION_S}s`,
    '--quiet',
    '--json',
    jsonFile,
  );
  return new Promise((resolve, reject) => {
    const child = spawn(cmd!, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    child.once('error', reject);
    child.once('exit', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`hotpath load exited ${code}:\n${out}`)),
    );
  });
}

interface VariantResult {
  rssAfterStartMb: number;
  /** The kernel's high-water mark of the RSS (VmHWM) over the whole life of the process. */
  rssPeakMb: number;
  /** The highest RSS sample (every SAMPLE_MS) under load. */
  rssPeakSampledMb: number;
  rssEndMb: number;
  heapEndMb: number | undefined;
  splitAfterStart: RssSplit;
  splitEnd: RssSplit;
  /** The load's latency from the intended send time, in ms. */
  p50Ms: number;
  p99Ms: number;
  /** The 1-minute load average when the load ended. */
  loadAverage: number;
  samples: number[];
}

const fmt = (mb: number): string => mb.toFixed(0);
const fmtSplit = (s: RssSplit): string =>
  `wasm ${fmt(s.wasm)} + anon ${fmt(s.otherAnon)} + files ${fmt(s.file)}`;

async function measure(
  name: string,
  runner: string,
  command: string[],
  env: Record<string, string>,
  mixFile: string,
): Promise<VariantResult> {
  const { child, base } = await startService(command, {
    HOST: '127.0.0.1',
    PORT: '0',
    GATEWAY_PORT: '0',
    GATEWAY_LATENCY: 'none',
    NODE_ENV: 'production',
    ...env,
  });
  try {
    const pid = await servicePid(runner, child);
    await new Promise((r) => setTimeout(r, 2000));
    const rssAfterStartMb = rssMb(pid);
    const splitAfterStart = rssSplit(pid);
    const samples: number[] = [];
    const sampler = setInterval(() => samples.push(rssMb(pid)), SAMPLE_MS);
    const jsonFile = `${mixFile}.${name.replace(/\W+/g, '-')}.json`;
    const summary = await runLoad(base, mixFile, jsonFile);
    clearInterval(sampler);
    const load = JSON.parse(readFileSync(jsonFile, 'utf8')) as {
      latency: { percentiles: Record<string, number> };
    };
    const result: VariantResult = {
      rssAfterStartMb,
      rssPeakMb: statusMb(pid, 'VmHWM'),
      rssPeakSampledMb: Math.max(rssAfterStartMb, ...samples),
      rssEndMb: rssMb(pid),
      heapEndMb: await heapMb(base),
      splitAfterStart,
      splitEnd: rssSplit(pid),
      p50Ms: (load.latency.percentiles['50'] ?? NaN) / 1000,
      p99Ms: (load.latency.percentiles['99'] ?? NaN) / 1000,
      loadAverage: loadavg()[0]!,
      samples,
    };
    console.log(
      `${name.padEnd(34)} RSS after start ${fmt(result.rssAfterStartMb)} MB (${fmtSplit(splitAfterStart)}), peak ${fmt(result.rssPeakMb)} MB (sampled under load ${fmt(result.rssPeakSampledMb)}), end ${fmt(result.rssEndMb)} MB (${fmtSplit(result.splitEnd)}); JS heap used ${result.heapEndMb?.toFixed(0) ?? '?'} MB; latency p50 ${result.p50Ms.toFixed(1)} ms, p99 ${result.p99Ms.toFixed(1)} ms; load average ${result.loadAverage.toFixed(1)}`,
    );
    if (process.env.VERBOSE === '1') console.log(summary);
    return result;
  } finally {
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  }
}

const dir = mkdtempSync(join(tmpdir(), 'hotpath-memory-bench-'));
const mixFile = join(dir, 'mix.json');
writeFileSync(mixFile, JSON.stringify(mix));
const rounds: Record<string, VariantResult[]> = {};
const record = (name: string, result: VariantResult): void => {
  (rounds[name] ??= []).push(result);
};
const label: Record<string, string> = {
  start: 'npm start',
  tsx: 'tsx',
  baseline: `npm start at ${BASELINE}`,
};
try {
  const env = environment();
  console.log(
    `embedded service memory under the request mix at ${RATE} req/s for ${DURATION_S} s, ${ROUNDS} round(s), runners ${RUNNERS.join(', ')}  (node ${env.node}, ${env.cpu}, ${env.cores} cores)`,
  );
  const entries: Record<string, string> = {};
  if (RUNNERS.includes('start')) entries.start = buildTree(join(dir, 'build-start'));
  if (RUNNERS.includes('baseline'))
    entries.baseline = buildTree(join(dir, 'build-baseline'), BASELINE);
  for (let round = 1; round <= ROUNDS; round++) {
    for (const runner of RUNNERS) {
      const command = serviceCommand(runner, entries);
      const dataDir = join(dir, `data-${runner}-${round}`);
      const row = (variant: string): string => `${variant} (${label[runner]})`;
      if (VARIANTS.has('disk') || VARIANTS.has('restart')) {
        const name = row('disk, new directory');
        record(name, await measure(name, runner, command, { DATA_DIR: dataDir }, mixFile));
      }
      if (VARIANTS.has('restart')) {
        const name = row('disk, existing directory');
        record(name, await measure(name, runner, command, { DATA_DIR: dataDir }, mixFile));
      }
      if (VARIANTS.has('memory')) {
        const name = row('memory://');
        record(name, await measure(name, runner, command, { DATA_DIR: 'memory://' }, mixFile));
      }
      rmSync(dataDir, { recursive: true, force: true });
    }
    // For comparison: the same service on the PostgreSQL server of scripts/services.sh, when up.
    if (VARIANTS.has('server') && round === 1) {
      const admin = new pg.Client({ connectionString: adminUrl });
      const name = `hp_memory_${process.pid}`;
      let created = false;
      try {
        await admin.connect();
        await admin.query(`CREATE DATABASE ${name}`);
        created = true;
      } catch (error) {
        console.log(`(no PostgreSQL server at ${adminUrl}: ${(error as Error).message})`);
      }
      if (created) {
        try {
          const url = new URL(adminUrl);
          url.pathname = `/${name}`;
          const row = `PostgreSQL server (${label[RUNNERS[0]!]})`;
          record(
            row,
            await measure(
              row,
              RUNNERS[0]!,
              serviceCommand(RUNNERS[0]!, entries),
              { DATABASE_URL: url.toString() },
              mixFile,
            ),
          );
        } finally {
          await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
        }
      }
      await admin.end().catch(() => {});
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

const medians = Object.fromEntries(
  Object.entries(rounds).map(([name, results]) => {
    const of = (pick: (r: VariantResult) => number): number => median(results.map(pick));
    return [
      name,
      {
        rssAfterStartMb: of((r) => r.rssAfterStartMb),
        rssPeakMb: of((r) => r.rssPeakMb),
        rssEndMb: of((r) => r.rssEndMb),
        heapEndMb: of((r) => r.heapEndMb ?? NaN),
        p50Ms: of((r) => r.p50Ms),
        p99Ms: of((r) => r.p99Ms),
      },
    ];
  }),
);
console.log(`\nmedians of ${ROUNDS} round(s):`);
for (const [name, m] of Object.entries(medians)) {
  console.log(
    `${name.padEnd(34)} after start ${fmt(m.rssAfterStartMb)} MB, peak ${fmt(m.rssPeakMb)} MB, end ${fmt(m.rssEndMb)} MB, JS heap ${fmt(m.heapEndMb)} MB, p50 ${m.p50Ms.toFixed(1)} ms, p99 ${m.p99Ms.toFixed(1)} ms`,
  );
}
writeResult('service-memory', {
  rate: RATE,
  durationSeconds: DURATION_S,
  rounds: ROUNDS,
  runners: RUNNERS,
  baseline: BASELINE,
  medians,
  variants: rounds,
});
