/**
 * A PostgreSQL primary and a streaming replica for a test, started by `scripts/scale.sh pg
 * start` on free ports in a temporary directory and stopped by `stop()`. Skipped with a
 * printed reason when PostgreSQL is not installed, failing under CI.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { binaryOrSkip } from './scale-cluster.js';

const run = promisify(execFile);
const root = resolve(import.meta.dirname, '..', '..', '..');

export const PG_BIN = '/usr/lib/postgresql/15/bin';

export function pgPairOrSkip(): string | false {
  return binaryOrSkip(`${PG_BIN}/pg_basebackup`, 'postgresql');
}

export interface PgPair {
  primaryUrl: string;
  replicaUrl: string;
  replicaPid: number;
  stop(): Promise<void>;
}

export async function startPgPair(): Promise<PgPair> {
  const dir = mkdtempSync(join(tmpdir(), 'hotpath-pg-pair-'));
  const env = { ...process.env, HOTPATH_SCALE_DIR: dir };
  const script = (...args: string[]) =>
    run('bash', [join(root, 'scripts/scale.sh'), 'pg', ...args], { env, cwd: root });
  const stop = async () => {
    try {
      await script('stop');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
  try {
    await script('start');
  } catch (error) {
    await stop().catch(() => {});
    throw error;
  }
  const vars = Object.fromEntries(
    readFileSync(join(dir, 'pg.env'), 'utf8')
      .trim()
      .split('\n')
      .map((line) => line.replace(/^export /, '').split('=', 2) as [string, string]),
  );
  return {
    primaryUrl: vars.DATABASE_URL!,
    replicaUrl: vars.DATABASE_REPLICA_URL!,
    replicaPid: Number(vars.HOTPATH_REPLICA_PID),
    stop,
  };
}

/** `pid` and every process whose parent it is (a postmaster's backends and workers). */
export function processTree(pid: number): number[] {
  const children = readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .filter((name) => {
      try {
        const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
        return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid;
      } catch {
        return false;
      }
    })
    .map(Number);
  return [pid, ...children];
}
