/**
 * scripts/scale.sh for the scale benches: M instances of the payments service behind HAProxy
 * in a temporary state directory, on a fresh database of the PostgreSQL server of
 * scripts/services.sh, seeded with `users` x `perUser` payments. `stop()` ends what the script
 * started (by the PIDs in its state directory) and drops the database.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import pg from 'pg';

const root = resolve(import.meta.dirname, '..', '..');

export const adminUrl =
  process.env.TEST_DATABASE_URL ??
  `postgres://postgres@127.0.0.1:${process.env.HOTPATH_PG_PORT ?? 54329}/postgres`;
export const redisUrl =
  process.env.TEST_REDIS_URL ?? `redis://127.0.0.1:${process.env.HOTPATH_REDIS_PORT ?? 63799}`;

export interface BenchCluster {
  lbUrl: string;
  instanceUrls: string[];
  instancePids: number[];
  haproxyPid: number;
  /** HAProxy's runtime API socket (`show stat`). */
  haproxySocket: string;
  /** scripts/scale.sh's state directory (its haproxy.cfg with the server lines). */
  stateDir: string;
  databaseUrl: string;
  /** Ids of some seeded payments. */
  paymentIds: string[];
  stop(): Promise<void>;
}

export async function createDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `hp_bench_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  try {
    await admin.connect();
  } catch (error) {
    console.error(
      `bench: no PostgreSQL at ${adminUrl} (${(error as Error).message}); run bash scripts/services.sh start`,
    );
    process.exit(1);
  }
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const c = new pg.Client({ connectionString: adminUrl });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

export async function startBenchCluster(options: {
  instances: number;
  users: number;
  perUser: number;
  env?: Record<string, string>;
}): Promise<BenchCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'hotpath-scale-bench-'));
  const database = await createDatabase();
  const env = {
    ...process.env,
    HOTPATH_SCALE_DIR: dir,
    DATABASE_URL: database.url,
    REDIS_URL: redisUrl,
    LOG_LEVEL: 'warn',
    ...options.env,
  };
  const script = (command: string) =>
    execFileSync('bash', [join(root, 'scripts/scale.sh'), ...command.split(' ')], {
      env,
      cwd: root,
      stdio: ['ignore', 'inherit', 'inherit'],
    });
  const stop = async () => {
    try {
      script('stop');
    } finally {
      await database.drop();
      rmSync(dir, { recursive: true, force: true });
    }
  };
  try {
    script(`start ${options.instances}`);
  } catch (error) {
    await stop().catch(() => {});
    throw error;
  }
  const vars = Object.fromEntries(
    readFileSync(join(dir, 'env'), 'utf8')
      .trim()
      .split('\n')
      .map((line) => line.replace(/^export /, '').split('=', 2) as [string, string]),
  );
  const instanceUrls = vars.HOTPATH_INSTANCE_URLS!.split(',');
  const client = new pg.Client({ connectionString: database.url });
  await client.connect();
  await client.query(
    `INSERT INTO payments (id, user_id, amount, currency, status, created_at)
     SELECT gen_random_uuid(), 1 + (g % $1), 100 + g % 9000, 'EUR', 'authorized', now() - (g || ' seconds')::interval
     FROM generate_series(1, $2::int) AS g`,
    [options.users, options.users * options.perUser],
  );
  await client.query('ANALYZE payments');
  const { rows } = await client.query<{ id: string }>('SELECT id FROM payments LIMIT 50');
  await client.end();
  return {
    lbUrl: vars.HOTPATH_LB_URL!,
    instanceUrls,
    instancePids: instanceUrls.map((_, i) =>
      Number(readFileSync(join(dir, `instance-${i + 1}.pid`), 'utf8')),
    ),
    haproxyPid: Number(vars.HOTPATH_HAPROXY_PID),
    haproxySocket: vars.HOTPATH_HAPROXY_SOCKET!,
    stateDir: dir,
    databaseUrl: database.url,
    paymentIds: rows.map((r) => r.id),
    stop,
  };
}
