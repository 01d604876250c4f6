/**
 * The payments service (service/main.ts) as its own process, configured by environment, with
 * the gateway at GATEWAY_URL (it starts no simulator of its own). It can be signalled by its
 * PID and started again on the same port, as a process manager would.
 */
import { resolve } from 'node:path';
import { request } from 'undici';
import { ManagedProcess, waitFor } from './child-process.js';

const root = resolve(import.meta.dirname, '..', '..');
const main = resolve(root, 'service', 'main.ts');

/** The service's settings (its environment variables; see service/config.ts). */
export interface ServiceSettings {
  databaseUrl: string;
  redisUrl: string;
  gatewayUrl: string;
  /** GATEWAY_TIMEOUT_MS. Default 250. */
  gatewayTimeoutMs?: number;
  /** GATEWAY_RETRIES. Default 2 (the service's own default). */
  gatewayRetries?: number;
  /** RECOVERY_INTERVAL_MS. Default 500. */
  recoveryIntervalMs?: number;
  /** SHUTDOWN_TIMEOUT_MS. Default 5,000. */
  shutdownTimeoutMs?: number;
  /** More variables, as is. */
  env?: Record<string, string>;
}

export class ServiceProcess {
  readonly #settings: ServiceSettings;
  #port = 0;
  #process: ManagedProcess | undefined;

  private constructor(settings: ServiceSettings) {
    this.#settings = settings;
  }

  /** Starts the service on a free port; resolves once it listens. */
  static async start(settings: ServiceSettings): Promise<ServiceProcess> {
    const service = new ServiceProcess(settings);
    await service.start();
    return service;
  }

  get url(): string {
    return `http://127.0.0.1:${this.#port}`;
  }

  get pid(): number {
    return this.#process?.pid ?? -1;
  }

  get isRunning(): boolean {
    return this.#process !== undefined && !this.#process.hasExited;
  }

  /** What it printed last. */
  get output(): string {
    return this.#process?.output ?? '';
  }

  /** Starts the service (again, on the same port); resolves once it listens. */
  async start(): Promise<void> {
    if (this.isRunning) throw new Error('service: already running');
    const s = this.#settings;
    const { process: child, match } = await ManagedProcess.start({
      name: 'service',
      command: process.execPath,
      args: ['--conditions=source', '--import', 'tsx', main],
      cwd: root,
      env: {
        HOST: '127.0.0.1',
        PORT: String(this.#port),
        DATABASE_URL: s.databaseUrl,
        REDIS_URL: s.redisUrl,
        GATEWAY_URL: s.gatewayUrl,
        GATEWAY_TIMEOUT_MS: String(s.gatewayTimeoutMs ?? 250),
        GATEWAY_RETRIES: String(s.gatewayRetries ?? 2),
        RECOVERY_INTERVAL_MS: String(s.recoveryIntervalMs ?? 500),
        SHUTDOWN_TIMEOUT_MS: String(s.shutdownTimeoutMs ?? 5000),
        PROFILING: 'off',
        // Shedding answers 503 OVERLOADED by the event loop's stalls, which a loaded test
        // machine has at random: the scenarios assert each error code, so it is off here.
        SHEDDING: 'off',
        LOG_LEVEL: 'warn',
        ...s.env,
      },
      readyLine: /payments service listening on http:\/\/127\.0\.0\.1:(\d+)/,
    });
    this.#process = child;
    this.#port = Number(match[1]);
  }

  /** Sends `signal` to the service by its PID. */
  signal(signal: NodeJS.Signals): void {
    this.#process?.signal(signal);
  }

  /** Sends `signal` and waits for the exit (SIGKILL after `timeoutMs`). */
  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 15_000): Promise<void> {
    await this.#process?.stop(signal, timeoutMs);
  }

  /** Resolves with the exit code or signal of the running process. */
  exited(): Promise<number | string | null> {
    return this.#process?.exited() ?? Promise.resolve(null);
  }

  /** The readiness answer: status code and `status` (ready, degraded) or `code`. */
  async readiness(): Promise<{ statusCode: number; status: string }> {
    try {
      const { statusCode, body } = await request(`${this.url}/health/ready`, {
        headersTimeout: 2000,
        bodyTimeout: 2000,
      });
      const json = (await body.json()) as { status?: string; code?: string };
      return { statusCode, status: json.status ?? json.code ?? '' };
    } catch (error) {
      return { statusCode: 0, status: (error as Error).message };
    }
  }

  /**
   * Polls /health/ready until it answers 200 `ready` (or also `degraded` when allowed);
   * resolves with the time waited, in ms.
   * @throws Error after `timeoutMs`.
   */
  waitReady(timeoutMs = 30_000, options: { allowDegraded?: boolean } = {}): Promise<number> {
    return waitFor(
      `service ${this.url} ready`,
      async () => {
        const { statusCode, status } = await this.readiness();
        return (
          statusCode === 200 &&
          (status === 'ready' || (options.allowDegraded === true && status === 'degraded'))
        );
      },
      timeoutMs,
    );
  }
}
