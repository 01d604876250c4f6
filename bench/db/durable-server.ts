/**
 * A throwaway PostgreSQL server with the default durability settings (`fsync=on`,
 * `synchronous_commit=on`, `full_page_writes=on`), for benches whose result depends on the cost
 * of a commit: the shared test server of scripts/services.sh runs with `fsync=off` and
 * `synchronous_commit=off`, where a commit never waits for the disk.
 *
 * initdb into a fresh temporary directory, start on a free 127.0.0.1 port, stop the postmaster
 * by its PID and delete the directory at the end. PostgreSQL refuses to run as root: as root,
 * the binaries run as the `postgres` user, as scripts/services.sh does.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface DurableServer {
  /** `postgres://postgres@127.0.0.1:<port>/postgres`. */
  url: string;
  /** The postmaster's PID. */
  pid: number;
  /** Fast shutdown by PID, waits for the process to exit, deletes the data directory. */
  stop(): Promise<void>;
}

/** The newest PostgreSQL bin directory, or undefined when PostgreSQL is not installed. */
export function postgresBin(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] === undefined ? undefined : join(root, versions[0], 'bin');
}

const isRoot = process.getuid?.() === 0;

function asPostgres(command: string, args: string[]): void {
  const [file, argv] = isRoot
    ? ['runuser', ['-u', 'postgres', '--', command, ...args]]
    : [command, args];
  execFileSync(file, argv, { stdio: ['ignore', 'ignore', 'pipe'] });
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address !== null
          ? resolve(address.port)
          : reject(new Error('no port')),
      );
    });
  });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Starts a fresh server with PostgreSQL's default settings (only address and port set). */
export async function startDurableServer(): Promise<DurableServer> {
  const bin = postgresBin();
  if (bin === undefined) throw new Error('PostgreSQL is not installed (/usr/lib/postgresql)');
  const dir = mkdtempSync(join(tmpdir(), 'hotpath-durable-pg-'));
  const data = join(dir, 'data');
  try {
    if (isRoot) {
      try {
        execFileSync('id', ['postgres'], { stdio: 'ignore' });
      } catch {
        execFileSync('useradd', ['--system', '--home-dir', dir, 'postgres']);
      }
      chmodSync(dir, 0o755);
      execFileSync('chown', ['postgres', dir]);
    }
    asPostgres(join(bin, 'initdb'), [
      '-D',
      data,
      '-U',
      'postgres',
      '--auth=trust',
      '--encoding=UTF8',
      '--locale=C',
    ]);
    const port = await freePort();
    asPostgres(join(bin, 'pg_ctl'), [
      '-D',
      data,
      '-l',
      join(dir, 'postgres.log'),
      '-w',
      '-t',
      '60',
      'start',
      '-o',
      `-c listen_addresses=127.0.0.1 -p ${port} -k ${dir}`,
    ]);
    const pid = Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
    return {
      url: `postgres://postgres@127.0.0.1:${port}/postgres`,
      pid,
      stop: async () => {
        if (isAlive(pid)) process.kill(pid, 'SIGINT');
        for (let i = 0; i < 300 && isAlive(pid); i++) {
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}
