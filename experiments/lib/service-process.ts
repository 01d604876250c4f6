/**
 * One payments service process per variant, started from source (`node --conditions=source
 * --import tsx service/main.ts`) on 127.0.0.1 and a free port, with its own gateway
 * simulator child; stopped by its PID.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..', '..');

/** A port free on 127.0.0.1 right now. */
export function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => done(port));
    });
  });
}

export interface ServiceProcess {
  url: string;
  pid: number;
  /** The last lines the process printed, for error messages. */
  output(): string;
  stop(): Promise<void>;
}

/**
 * Starts the service with `env` on top of quiet defaults (`NODE_ENV=production`, warnings
 * only, no profiling) and waits until /health/ready answers 200.
 * @throws Error when it exits or is not ready within `readyTimeoutMs`.
 */
export async function startService(
  env: Record<string, string>,
  readyTimeoutMs = 120_000,
): Promise<ServiceProcess> {
  const port = await freePort();
  const child: ChildProcess = spawn(
    process.execPath,
    ['--conditions=source', '--import', 'tsx', join(root, 'service', 'main.ts')],
    {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '',
        HOST: '127.0.0.1',
        PORT: String(port),
        GATEWAY_PORT: '0',
        LOG_LEVEL: 'warn',
        PROFILING: 'off',
        // As deployed: the N+1 detector (AsyncLocalStorage, on outside production) is a
        // development aid whose promise hooks would weigh on every variant's knee.
        NODE_ENV: 'production',
        ...env,
      },
    },
  );
  let output = '';
  const keep = (d: Buffer) => {
    output = (output + d.toString()).slice(-4000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  let exited: number | null | undefined;
  const exit = new Promise<void>((done) =>
    child.once('exit', (code) => {
      exited = code;
      done();
    }),
  );
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + readyTimeoutMs;
  for (;;) {
    if (exited !== undefined) throw new Error(`service exited (${exited}): ${output}`);
    try {
      const res = await fetch(`${url}/health/ready`, { signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer();
      if (res.status === 200) break;
    } catch {
      // Not listening yet.
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`service not ready after ${readyTimeoutMs} ms: ${output}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return {
    url,
    pid: child.pid!,
    output: () => output,
    stop: async () => {
      if (exited !== undefined) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exit;
      clearTimeout(timer);
    },
  };
}

/** Resident set size of a process (VmRSS of /proc/<pid>/status), in MB. */
export function residentMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? NaN);
  return kb / 1024;
}

/** Reads the given metric families' unlabelled values from the service's /metrics. */
export async function scrape(
  url: string,
  names: readonly string[],
): Promise<Record<string, number>> {
  const res = await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(5000) });
  const text = await res.text();
  const out: Record<string, number> = {};
  for (const name of names) {
    const match = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)`, 'm').exec(text);
    out[name] = match === null ? NaN : Number(match[1]);
  }
  return out;
}
