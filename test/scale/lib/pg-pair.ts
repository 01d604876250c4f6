/**
 * A PostgreSQL primary and a streaming replica for a test, started by `scripts/scale.sh pg
 * start` on free ports in a temporary directory and stopped by `stop()`. Skipped with a
 * printed reason when PostgreSQL is not installed, failing under CI.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { binaryOrSkip } from './scale-cluster.js';
import { startScalePart } from './scale-script.js';

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
  const { vars, stop } = await startScalePart('pg', 'pg.env');
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
