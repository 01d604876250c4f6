/**
 * A redis-server of the fault suite's own, spawned in the foreground (`--daemonize no`) on a
 * free port, so a test can kill it by its PID and start it again on the same port. Nothing is
 * persisted: a restarted server is empty, as after a crash of a cache.
 */
import { spawnSync } from 'node:child_process';
import { ManagedProcess } from './child-process.js';
import { freePort } from './free-port.js';

/** Whether redis-server is installed. */
export function hasRedisServer(): boolean {
  return spawnSync('sh', ['-c', 'command -v redis-server'], { stdio: 'ignore' }).status === 0;
}

export class RedisServer {
  readonly port: number;
  readonly #dir: string;
  #process: ManagedProcess | undefined;

  private constructor(port: number, dir: string) {
    this.port = port;
    this.#dir = dir;
  }

  /** Starts a server with its working directory `dir`. */
  static async create(dir: string): Promise<RedisServer> {
    const server = new RedisServer(await freePort(), dir);
    await server.start();
    return server;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get isRunning(): boolean {
    return this.#process !== undefined && !this.#process.hasExited;
  }

  /** Starts the server (again) on the same port; resolves once it accepts connections. */
  async start(): Promise<void> {
    if (this.isRunning) return;
    const { process: server } = await ManagedProcess.start({
      name: 'redis',
      command: 'redis-server',
      args: [
        '--bind',
        '127.0.0.1',
        '--port',
        String(this.port),
        '--daemonize',
        'no',
        '--dir',
        this.#dir,
        '--save',
        '',
        '--appendonly',
        'no',
        '--protected-mode',
        'yes',
      ],
      readyLine: /Ready to accept connections/,
    });
    this.#process = server;
  }

  /** Sends `signal` to the server and waits for its exit. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (!this.isRunning) return;
    await this.#process!.stop(signal);
  }
}
