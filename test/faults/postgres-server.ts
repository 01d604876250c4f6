/**
 * A PostgreSQL server of the fault suite's own: initdb into a temporary directory, started as
 * a child process on a free port, so a test can stop and start it without touching the
 * shared server other suites use (scripts/services.sh). Run as the `postgres` user when this
 * process is root (PostgreSQL refuses root), with the same throw-away settings as
 * scripts/services.sh (fsync off).
 */
import { execFile } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ManagedProcess } from './child-process.js';
import { freePort } from './free-port.js';

const run = promisify(execFile);

/** The newest installed PostgreSQL's bin directory, or undefined. */
export function postgresBin(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, 'bin', 'postgres')))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] === undefined ? undefined : join(root, versions[0], 'bin');
}

/** The uid and gid to run PostgreSQL as: the `postgres` user when root, else ourselves. */
async function postgresUser(): Promise<{ uid: number; gid: number } | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  const id = async (flag: string) => Number((await run('id', [flag, 'postgres'])).stdout.trim());
  try {
    return { uid: await id('-u'), gid: await id('-g') };
  } catch {
    // As scripts/services.sh does: a system user for the server, when the package made none.
    await run('useradd', ['--system', '--no-create-home', 'postgres']);
    return { uid: await id('-u'), gid: await id('-g') };
  }
}

export class PostgresServer {
  readonly port: number;
  readonly #bin: string;
  readonly #dataDir: string;
  readonly #socketDir: string;
  readonly #user: { uid: number; gid: number } | undefined;
  #process: ManagedProcess | undefined;

  private constructor(
    bin: string,
    dir: string,
    port: number,
    user: { uid: number; gid: number } | undefined,
  ) {
    this.#bin = bin;
    this.#dataDir = join(dir, 'pg');
    this.#socketDir = join(dir, 'pg-run');
    this.port = port;
    this.#user = user;
  }

  /** Creates a cluster under `dir` (which must exist) and starts it. */
  static async create(bin: string, dir: string): Promise<PostgresServer> {
    const user = await postgresUser();
    const server = new PostgresServer(bin, dir, await freePort(), user);
    chmodSync(dir, 0o755);
    for (const d of [server.#dataDir, server.#socketDir]) {
      mkdirSync(d, { recursive: true });
      if (user !== undefined) chownSync(d, user.uid, user.gid);
    }
    await run(
      join(bin, 'initdb'),
      [
        '-D',
        server.#dataDir,
        '-U',
        'postgres',
        '--auth=trust',
        '--encoding=UTF8',
        '--locale=C',
        '--no-sync',
      ],
      { ...(user ?? {}), env: { ...process.env, LC_ALL: 'C' } },
    );
    await server.start();
    return server;
  }

  /** The URL of `database` on this server. */
  url(database = 'postgres'): string {
    return `postgres://postgres@127.0.0.1:${this.port}/${database}`;
  }

  /** Whether the postmaster runs. */
  get isRunning(): boolean {
    return this.#process !== undefined && !this.#process.hasExited;
  }

  /** The postmaster's PID, or -1 when stopped. */
  get pid(): number {
    return this.isRunning ? this.#process!.pid : -1;
  }

  /** Starts the postmaster (again) on the same port and data; resolves once it accepts connections. */
  async start(): Promise<void> {
    if (this.isRunning) return;
    const { process: postmaster } = await ManagedProcess.start({
      name: 'postgres',
      command: join(this.#bin, 'postgres'),
      args: [
        '-D',
        this.#dataDir,
        '-h',
        '127.0.0.1',
        '-p',
        String(this.port),
        '-k',
        this.#socketDir,
        '-c',
        'fsync=off',
        '-c',
        'synchronous_commit=off',
        '-c',
        'full_page_writes=off',
        '-c',
        'max_connections=100',
        '-c',
        'shared_buffers=32MB',
      ],
      env: { LC_ALL: 'C' },
      ...(this.#user ?? {}),
      readyLine: /database system is ready to accept connections/,
    });
    this.#process = postmaster;
  }

  /**
   * Stops the postmaster: `fast` (SIGINT: sessions are ended, a clean shutdown) or
   * `immediate` (SIGQUIT: a crash, recovered at the next start).
   */
  async stop(mode: 'fast' | 'immediate' = 'fast'): Promise<void> {
    if (!this.isRunning) return;
    await this.#process!.stop(mode === 'fast' ? 'SIGINT' : 'SIGQUIT', 30_000);
  }

  /** Creates an empty database and returns its URL. */
  async createDatabase(name: string): Promise<string> {
    const { default: pg } = await import('pg');
    const admin = new pg.Client({ connectionString: this.url() });
    await admin.connect();
    try {
      await admin.query(`CREATE DATABASE ${name}`);
    } finally {
      await admin.end();
    }
    return this.url(name);
  }
}
