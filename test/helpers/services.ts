/**
 * Real PostgreSQL and Redis for tests. Each helper returns a connection URL, starting the
 * server through scripts/services.sh when its binary is installed but it is not running.
 * When the binary is missing the helper returns a skip reason, except under CI=1 (or true),
 * where a missing service is a failure. Use at the top level of a test file:
 *
 *   const pg = await postgresForTests();
 *   describe('storage on PostgreSQL', { skip: pg.skip }, () => { ... pg.url ... });
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { connect } from 'node:net';
import { resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..', '..');
const isCI = process.env.CI === '1' || process.env.CI === 'true';

export const TEST_DATABASE_URL =
  process.env.TEST_DATABASE_URL ??
  `postgres://postgres@127.0.0.1:${process.env.HOTPATH_PG_PORT ?? 54329}/postgres`;
export const TEST_REDIS_URL =
  process.env.TEST_REDIS_URL ?? `redis://127.0.0.1:${process.env.HOTPATH_REDIS_PORT ?? 63799}`;

export interface ServiceForTests {
  /** Connection URL; empty when skipped. */
  url: string;
  /** A reason to skip, or false when the service is up. */
  skip: string | false;
}

function reachable(url: string): Promise<boolean> {
  const u = new URL(url);
  return new Promise((done) => {
    const socket = connect({ host: u.hostname, port: Number(u.port) });
    socket.setTimeout(1000);
    socket.once('connect', () => {
      socket.destroy();
      done(true);
    });
    socket.once('timeout', () => {
      socket.destroy();
      done(false);
    });
    socket.once('error', () => done(false));
  });
}

function postgresInstalled(): boolean {
  if (existsSync('/usr/lib/postgresql')) {
    return readdirSync('/usr/lib/postgresql').some((v) =>
      existsSync(`/usr/lib/postgresql/${v}/bin/pg_ctl`),
    );
  }
  return spawnSync('sh', ['-c', 'command -v pg_ctl'], { stdio: 'ignore' }).status === 0;
}

function redisInstalled(): boolean {
  return spawnSync('sh', ['-c', 'command -v redis-server'], { stdio: 'ignore' }).status === 0;
}

async function ensure(
  name: 'postgres' | 'redis',
  url: string,
  installed: () => boolean,
): Promise<ServiceForTests> {
  if (await reachable(url)) return { url, skip: false };
  if (!installed()) {
    const reason = `${name} is not installed (apt-get install -y ${name === 'postgres' ? 'postgresql' : 'redis-server'})`;
    if (isCI) throw new Error(`CI requires ${name}: ${reason}`);
    console.log(`# skipping ${name} tests: ${reason}`);
    return { url: '', skip: reason };
  }
  try {
    execFileSync('bash', [resolve(root, 'scripts/services.sh'), 'start', name], { stdio: 'pipe' });
  } catch (error) {
    const stderr = (error as { stderr?: Buffer }).stderr?.toString() ?? String(error);
    throw new Error(`could not start ${name}: ${stderr}`);
  }
  if (!(await reachable(url))) throw new Error(`${name} started but ${url} is not reachable`);
  return { url, skip: false };
}

/** A running PostgreSQL server (the admin URL). Prefer {@link createTestDatabase} per suite. */
export function postgresForTests(): Promise<ServiceForTests> {
  return ensure('postgres', TEST_DATABASE_URL, postgresInstalled);
}

/** A running Redis server. Give your keys a unique prefix: suites run in parallel. */
export function redisForTests(): Promise<ServiceForTests> {
  return ensure('redis', TEST_REDIS_URL, redisInstalled);
}

/**
 * Creates an empty database with a unique name on the test server and returns its URL and a
 * function that drops it. Suites run in parallel, each in its own database.
 */
export async function createTestDatabase(
  adminUrl: string,
): Promise<{ url: string; drop: () => Promise<void> }> {
  const { default: pg } = await import('pg');
  const name = `hp_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const client = new pg.Client({ connectionString: adminUrl });
      await client.connect();
      try {
        await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await client.end();
      }
    },
  };
}
