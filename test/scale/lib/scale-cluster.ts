/**
 * Runs scripts/scale.sh for a test: M instances of the payments service behind HAProxy, in a
 * temporary state directory, on a fresh database of the test PostgreSQL server and the test
 * Redis. `stop()` ends every process the script started (by the PIDs in its state directory)
 * and drops the database.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { connect as netConnect } from 'node:net';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { createTestDatabase, postgresForTests, redisForTests } from '../../helpers/services.js';

const run = promisify(execFile);
const root = resolve(import.meta.dirname, '..', '..', '..');
const isCI = process.env.CI === '1' || process.env.CI === 'true';

/**
 * A reason to skip when `binary` is missing (printed), or false when it is there.
 * @throws Error under CI: a missing binary fails the suite there.
 */
export function binaryOrSkip(binary: string, apt: string): string | false {
  if (existsSync(binary)) return false;
  const reason = `${binary} is not installed (apt-get install -y ${apt})`;
  if (isCI) throw new Error(`CI requires ${reason}`);
  console.log(`# skipping: ${reason}`);
  return reason;
}

/** PostgreSQL, Redis and HAProxy, or the first reason to skip. */
export async function scaleRequirements(): Promise<{
  skip: string | false;
  adminUrl: string;
  redisUrl: string;
}> {
  const pg = await postgresForTests();
  const redis = await redisForTests();
  const skip = pg.skip || redis.skip || binaryOrSkip('/usr/sbin/haproxy', 'haproxy');
  return { skip, adminUrl: pg.url, redisUrl: redis.url };
}

export interface ScaleCluster {
  dir: string;
  lbUrl: string;
  instanceUrls: string[];
  haproxyPid: number;
  databaseUrl: string;
  /** `scripts/scale.sh <command>` on this cluster; resolves with its output. */
  script(command: string): Promise<string>;
  /** PIDs of the instances, in order, from the state directory. */
  instancePids(): number[];
  stop(): Promise<void>;
}

export interface ScaleClusterOptions {
  adminUrl: string;
  redisUrl: string;
  instances: number;
  /** More settings for every instance (and the gateway simulator). */
  env?: Record<string, string>;
  /**
   * A streaming replica of `adminUrl`'s server: the instances get DATABASE_REPLICA_URL, the
   * test database on it, once the replica has it.
   */
  replicaAdminUrl?: string;
}

async function waitForDatabase(url: string): Promise<void> {
  const { default: pg } = await import('pg');
  const deadline = Date.now() + 30_000;
  for (;;) {
    const client = new pg.Client({ connectionString: url });
    try {
      await client.connect();
      await client.end();
      return;
    } catch (error) {
      await client.end().catch(() => {});
      if (Date.now() > deadline) throw error;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

export async function startScaleCluster(options: ScaleClusterOptions): Promise<ScaleCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'hotpath-scale-'));
  const database = await createTestDatabase(options.adminUrl);
  const replicaEnv: Record<string, string> = {};
  if (options.replicaAdminUrl !== undefined) {
    const url = new URL(options.replicaAdminUrl);
    url.pathname = new URL(database.url).pathname;
    await waitForDatabase(url.toString());
    replicaEnv.DATABASE_REPLICA_URL = url.toString();
  }
  const env = {
    ...replicaEnv,
    ...process.env,
    HOTPATH_SCALE_DIR: dir,
    DATABASE_URL: database.url,
    REDIS_URL: options.redisUrl,
    ...options.env,
  };
  const script = async (command: string): Promise<string> => {
    const { stdout } = await run('bash', [join(root, 'scripts/scale.sh'), ...command.split(' ')], {
      env,
      cwd: root,
      maxBuffer: 16 * 1024 * 1024,
    });
    return stdout;
  };
  const stop = async (): Promise<void> => {
    try {
      await script('stop');
    } finally {
      await database.drop();
      rmSync(dir, { recursive: true, force: true });
    }
  };
  try {
    await script(`start ${options.instances}`);
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
  return {
    dir,
    lbUrl: vars.HOTPATH_LB_URL!,
    instanceUrls,
    haproxyPid: Number(vars.HOTPATH_HAPROXY_PID),
    databaseUrl: database.url,
    script,
    instancePids: () =>
      instanceUrls.map((_, i) => Number(readFileSync(join(dir, `instance-${i + 1}.pid`), 'utf8'))),
    stop,
  };
}

/** Sends one command to HAProxy's runtime API socket and resolves with its answer. */
export function haproxyCommand(socket: string, command: string): Promise<string> {
  return new Promise((resolveAnswer, reject) => {
    const conn = netConnect(socket, () => conn.end(`${command}\n`));
    let out = '';
    conn.setEncoding('utf8');
    conn.on('data', (d: string) => (out += d));
    conn.on('end', () => resolveAnswer(out));
    conn.on('error', reject);
  });
}

/** The status HAProxy reports for server `s<n>` of the payments backend: UP, DOWN, DRAIN... */
export async function serverStatus(cluster: ScaleCluster, n: number): Promise<string> {
  const csv = await haproxyCommand(join(cluster.dir, 'haproxy.sock'), 'show stat');
  const row = csv.split('\n').find((line) => line.startsWith(`payments,s${n},`));
  return row?.split(',')[17] ?? 'missing';
}
