/**
 * The servers and data the experiments run on: PostgreSQL and Redis started by
 * scripts/services.sh on ports of their own (or given URLs), one fresh database per data set
 * filled by service/seed.ts, and embedded PGlite directories seeded the same way.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import pg from 'pg';
import type { Dataset } from '../experiment.js';

const root = resolve(import.meta.dirname, '..', '..');

/** Ports and directory of the servers the runner starts itself, away from the test servers. */
export const OWN_SERVICES = {
  pgPort: 54349,
  redisPort: 63819,
  dir: join(tmpdir(), 'hotpath-experiments-services'),
};

export interface Servers {
  /** Admin URL of the PostgreSQL server (database `postgres`). */
  postgresUrl: string;
  redisUrl: string;
  /** Stops what the runner started (nothing when the servers were given or already up). */
  stop(): void;
}

function servicesScript(args: string[]): { status: number | null; output: string } {
  const env = {
    ...process.env,
    HOTPATH_PG_PORT: String(OWN_SERVICES.pgPort),
    HOTPATH_REDIS_PORT: String(OWN_SERVICES.redisPort),
    HOTPATH_SERVICES_DIR: OWN_SERVICES.dir,
  };
  const run = spawnSync('bash', [join(root, 'scripts', 'services.sh'), ...args], {
    env,
    encoding: 'utf8',
  });
  return { status: run.status, output: `${run.stdout}${run.stderr}`.trim() };
}

/**
 * Uses the given servers, or starts PostgreSQL and Redis with scripts/services.sh on the
 * runner's own ports and data directory; at the end it stops only those it started.
 * @throws Error when a server cannot be started (not installed, port taken).
 */
export function openServers(given: { postgresUrl?: string; redisUrl?: string }): Servers {
  if (given.postgresUrl !== undefined && given.redisUrl !== undefined) {
    return { postgresUrl: given.postgresUrl, redisUrl: given.redisUrl, stop: () => {} };
  }
  const status = servicesScript(['status']).output;
  const started: string[] = [];
  for (const what of ['postgres', 'redis'] as const) {
    if (status.includes(`${what}: up`)) continue;
    const run = servicesScript(['start', what]);
    if (run.status !== 0)
      throw new Error(`cannot start ${what} with scripts/services.sh: ${run.output}`);
    started.push(what);
  }
  return {
    postgresUrl:
      given.postgresUrl ?? `postgres://postgres@127.0.0.1:${OWN_SERVICES.pgPort}/postgres`,
    redisUrl: given.redisUrl ?? `redis://127.0.0.1:${OWN_SERVICES.redisPort}`,
    stop: () => {
      for (const what of started) servicesScript(['stop', what]);
    },
  };
}

/** Runs service/seed.ts; resolves when it exits 0. */
function seed(dataset: Dataset, target: { databaseUrl?: string; dataDir?: string }) {
  const args = [
    '--conditions=source',
    '--import',
    'tsx',
    join(root, 'service', 'seed.ts'),
    '--users',
    String(dataset.users),
    '--payments',
    String(dataset.payments),
    ...(target.databaseUrl === undefined ? [] : ['--database-url', target.databaseUrl]),
    ...(target.dataDir === undefined ? [] : ['--data-dir', target.dataDir]),
  ];
  return new Promise<void>((done, fail) => {
    const child = spawn(process.execPath, args, {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, DATABASE_URL: '' },
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('exit', (code) =>
      code === 0 ? done() : fail(new Error(`seed exited ${code}: ${output.slice(-2000)}`)),
    );
  });
}

/** A seeded database of one data set. */
export interface SeededDatabase {
  dataset: Dataset;
  url: string;
  query<Row>(sql: string, params?: unknown[]): Promise<Row[]>;
  /** A seeded embedded directory (PGlite), made on first call. */
  embeddedDir(): Promise<string>;
  drop(): Promise<void>;
}

/** Creates `hp_exp_<random>_<name>` on the server and seeds it. */
export async function seededDatabase(
  postgresUrl: string,
  dataset: Dataset,
): Promise<SeededDatabase> {
  const name = `hp_exp_${randomBytes(3).toString('hex')}_${dataset.name.replace(/\W/g, '_')}`;
  const admin = new pg.Client({ connectionString: postgresUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(postgresUrl);
  url.pathname = `/${name}`;
  await seed(dataset, { databaseUrl: url.toString() });
  const pool = new pg.Pool({ connectionString: url.toString(), max: 2 });
  let dir: string | undefined;
  return {
    dataset,
    url: url.toString(),
    query: async <Row>(sql: string, params: unknown[] = []) =>
      (await pool.query(sql, params)).rows as Row[],
    embeddedDir: async () => {
      if (dir === undefined) {
        const made = mkdtempSync(join(tmpdir(), 'hotpath-experiments-pglite-'));
        await seed(dataset, { dataDir: made });
        dir = made;
      }
      return dir;
    },
    drop: async () => {
      await pool.end();
      if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
      const c = new pg.Client({ connectionString: postgresUrl });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}
