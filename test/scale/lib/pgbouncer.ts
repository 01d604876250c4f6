/**
 * PgBouncer (transaction mode, deploy/pgbouncer/pgbouncer.ini) for a test, in front of
 * `databaseUrl`, started by `scripts/scale.sh pgbouncer start` in a temporary directory and
 * stopped by `stop()` (by the PID in its pidfile).
 */
import { startScalePart } from './scale-script.js';

export interface Bouncer {
  /** `databaseUrl` with PgBouncer's host and port. */
  url: string;
  pid: number;
  stop(): Promise<void>;
}

export async function startPgBouncer(databaseUrl: string, poolSize: number): Promise<Bouncer> {
  const { vars, stop } = await startScalePart('pgbouncer', 'pgbouncer.env', {
    DATABASE_URL: databaseUrl,
    PGBOUNCER_POOL_SIZE: String(poolSize),
  });
  return { url: vars.PGBOUNCER_URL!, pid: Number(vars.HOTPATH_PGBOUNCER_PID), stop };
}
