/**
 * PgBouncer (transaction mode, deploy/pgbouncer/pgbouncer.ini) for a test, in front of
 * `databaseUrl`, started by `scripts/scale.sh pgbouncer start` in a temporary directory and
 * stopped by `stop()` (by the PID in its pidfile).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const root = resolve(import.meta.dirname, '..', '..', '..');

export interface Bouncer {
  /** `databaseUrl` with PgBouncer's host and port. */
  url: string;
  pid: number;
  stop(): Promise<void>;
}

export async function startPgBouncer(databaseUrl: string, poolSize: number): Promise<Bouncer> {
  const dir = mkdtempSync(join(tmpdir(), 'hotpath-pgbouncer-'));
  const env = {
    ...process.env,
    HOTPATH_SCALE_DIR: dir,
    DATABASE_URL: databaseUrl,
    PGBOUNCER_POOL_SIZE: String(poolSize),
  };
  const script = (command: string) =>
    run('bash', [join(root, 'scripts/scale.sh'), 'pgbouncer', command], { env, cwd: root });
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
    readFileSync(join(dir, 'pgbouncer.env'), 'utf8')
      .trim()
      .split('\n')
      .map((line) => line.replace(/^export /, '').split('=', 2) as [string, string]),
  );
  return { url: vars.PGBOUNCER_URL!, pid: Number(vars.HOTPATH_PGBOUNCER_PID), stop };
}
