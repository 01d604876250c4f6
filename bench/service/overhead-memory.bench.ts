/**
 * The embedded-mode payments service's memory: the service on PGlite (a fresh data directory
 * on disk, then `memory://`) under the request mix at a steady rate, its RSS read from
 * /proc/<pid>/status every second and its JS heap from /metrics. Prints RSS after start, at
 * the end and the peak, per variant, and writes bench/results/service-memory.json.
 *
 *   npm run bench -- service --filter overhead-memory
 *   RATE=300 DURATION_S=120 npm run bench -- service --filter overhead-memory
 *   VARIANTS=disk,memory npm run bench -- service --filter overhead-memory
 *
 * VARIANTS picks some of disk (a new directory), restart (the same directory again), memory
 * (`memory://`) and server (default: all). Each line also gives the RSS's anonymous and
 * file-backed parts (/proc/<pid>/status) and the load's p50/p99 latency from its intended
 * send time, so a memory setting's cost in latency shows in the same run.
 *
 * Needs Linux (/proc). For comparison, the same service on the PostgreSQL server of
 * scripts/services.sh when it is up (a fresh database, dropped after).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import pg from 'pg';
import { hotpathCommand, tsxCommand } from '../lib/commands.js';
import { environment, writeResult } from '../lib/report.js';

const RATE = Number(process.env.RATE ?? 300);
const adminUrl =
  process.env.TEST_DATABASE_URL ??
  `postgres://postgres@127.0.0.1:${process.env.HOTPATH_PG_PORT ?? 54329}/postgres`;
const DURATION_S = Number(process.env.DURATION_S ?? 120);
const VARIANTS = new Set((process.env.VARIANTS ?? 'disk,restart,memory,server').split(','));

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

function statusMb(pid: number, field: 'VmRSS' | 'RssAnon' | 'RssFile'): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return kb / 1024;
}

const rssMb = (pid: number): number => statusMb(pid, 'VmRSS');

async function heapMb(base: string): Promise<number | undefined> {
  const res = await fetch(`${base}/metrics`);
  const text = await res.text();
  const line = /^nodejs_heap_used_bytes(?:\{[^}]*\})? ([\d.e+]+)$/m.exec(text);
  return line === null ? undefined : Number(line[1]) / 1048576;
}

function startService(env: Record<string, string>): Promise<{ child: ChildProcess; base: string }> {
  const child = spawn(tsxCommand('service/main.ts')[0]!, tsxCommand('service/main.ts').slice(1), {
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
  rssPeakMb: number;
  rssEndMb: number;
  heapEndMb: number | undefined;
  /** The RSS at the end: anonymous memory (heaps, WASM memory, code) and file-backed pages. */
  rssAnonEndMb: number;
  rssFileEndMb: number;
  /** The load's latency from the intended send time, in ms. */
  p50Ms: number;
  p99Ms: number;
  samples: number[];
}

async function measure(name: string, env: Record<string, string>, mixFile: string) {
  const { child, base } = await startService({
    HOST: '127.0.0.1',
    PORT: '0',
    GATEWAY_PORT: '0',
    GATEWAY_LATENCY: 'none',
    NODE_ENV: 'production',
    ...env,
  });
  try {
    const pid = child.pid!;
    await new Promise((r) => setTimeout(r, 2000));
    const rssAfterStartMb = rssMb(pid);
    const samples: number[] = [];
    const sampler = setInterval(() => samples.push(rssMb(pid)), 1000);
    const jsonFile = `${mixFile}.${name.replace(/\W+/g, '-')}.json`;
    const summary = await runLoad(base, mixFile, jsonFile);
    clearInterval(sampler);
    const load = JSON.parse(readFileSync(jsonFile, 'utf8')) as {
      latency: { percentiles: Record<string, number> };
    };
    const result: VariantResult = {
      rssAfterStartMb,
      rssPeakMb: Math.max(rssAfterStartMb, ...samples),
      rssEndMb: rssMb(pid),
      heapEndMb: await heapMb(base),
      rssAnonEndMb: statusMb(pid, 'RssAnon'),
      rssFileEndMb: statusMb(pid, 'RssFile'),
      p50Ms: (load.latency.percentiles['50'] ?? NaN) / 1000,
      p99Ms: (load.latency.percentiles['99'] ?? NaN) / 1000,
      samples,
    };
    console.log(
      `${name.padEnd(24)} RSS after start ${result.rssAfterStartMb.toFixed(0)} MB, peak ${result.rssPeakMb.toFixed(0)} MB, end ${result.rssEndMb.toFixed(0)} MB (anonymous ${result.rssAnonEndMb.toFixed(0)}, files ${result.rssFileEndMb.toFixed(0)}); JS heap used ${result.heapEndMb?.toFixed(0) ?? '?'} MB; latency p50 ${result.p50Ms.toFixed(1)} ms, p99 ${result.p99Ms.toFixed(1)} ms`,
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
const results: Record<string, VariantResult> = {};
try {
  const env = environment();
  console.log(
    `embedded service memory under the request mix at ${RATE} req/s for ${DURATION_S} s  (node ${env.node}, ${env.cpu}, ${env.cores} cores)`,
  );
  if (VARIANTS.has('disk') || VARIANTS.has('restart')) {
    results['disk, first start'] = await measure(
      'disk, first start',
      { DATA_DIR: join(dir, 'data') },
      mixFile,
    );
  }
  if (VARIANTS.has('restart')) {
    results['disk, restart'] = await measure(
      'disk, restart',
      { DATA_DIR: join(dir, 'data') },
      mixFile,
    );
  }
  if (VARIANTS.has('memory')) {
    results['memory://'] = await measure('memory://', { DATA_DIR: 'memory://' }, mixFile);
  }
  // For comparison: the same service on the PostgreSQL server of scripts/services.sh, when up.
  const admin = new pg.Client({ connectionString: adminUrl });
  const name = `hp_memory_${process.pid}`;
  let created = false;
  if (VARIANTS.has('server')) {
    try {
      await admin.connect();
      await admin.query(`CREATE DATABASE ${name}`);
      created = true;
    } catch (error) {
      console.log(`(no PostgreSQL server at ${adminUrl}: ${(error as Error).message})`);
    }
  }
  if (created) {
    try {
      const url = new URL(adminUrl);
      url.pathname = `/${name}`;
      results['PostgreSQL server'] = await measure(
        'PostgreSQL server',
        { DATABASE_URL: url.toString() },
        mixFile,
      );
    } finally {
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    }
  }
  await admin.end().catch(() => {});
} finally {
  rmSync(dir, { recursive: true, force: true });
}
writeResult('service-memory', { rate: RATE, durationSeconds: DURATION_S, variants: results });
