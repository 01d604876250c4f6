/**
 * The embedded-mode payments service's memory: the service on PGlite (a fresh data directory
 * on disk, then `memory://`) under the request mix at a steady rate, its RSS read from
 * /proc/<pid>/status every second and its JS heap from /metrics. Prints RSS after start, at
 * the end and the peak, per variant, and writes bench/results/service-memory.json.
 *
 *   npm run bench -- service --filter overhead-memory
 *   RATE=300 DURATION_S=120 npm run bench -- service --filter overhead-memory
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

function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? NaN);
  return kb / 1024;
}

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

function runLoad(base: string, mixFile: string): Promise<string> {
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
    const summary = await runLoad(base, mixFile);
    clearInterval(sampler);
    const result: VariantResult = {
      rssAfterStartMb,
      rssPeakMb: Math.max(rssAfterStartMb, ...samples),
      rssEndMb: rssMb(pid),
      heapEndMb: await heapMb(base),
      samples,
    };
    console.log(
      `${name.padEnd(24)} RSS after start ${result.rssAfterStartMb.toFixed(0)} MB, peak ${result.rssPeakMb.toFixed(0)} MB, end ${result.rssEndMb.toFixed(0)} MB; JS heap used ${result.heapEndMb?.toFixed(0) ?? '?'} MB`,
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
  results['disk, first start'] = await measure(
    'disk, first start',
    { DATA_DIR: join(dir, 'data') },
    mixFile,
  );
  results['disk, restart'] = await measure(
    'disk, restart',
    { DATA_DIR: join(dir, 'data') },
    mixFile,
  );
  results['memory://'] = await measure('memory://', { DATA_DIR: 'memory://' }, mixFile);
  // For comparison: the same service on the PostgreSQL server of scripts/services.sh, when up.
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
