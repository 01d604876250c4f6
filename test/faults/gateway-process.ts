/**
 * The gateway simulator (service/gateway/main.ts) as its own process with a ledger file, so
 * it can be killed, frozen and restarted on the same port and keep every charge it made.
 * Faults that depend on what the gateway did (drop the answer after charging, answer late)
 * are set at run time through its `/_faults` endpoint.
 */
import { resolve } from 'node:path';
import { request } from 'undici';
import type { GatewayFaults } from '../../service/gateway/faults.js';
import { ManagedProcess } from './child-process.js';

const root = resolve(import.meta.dirname, '..', '..');
const main = resolve(root, 'service', 'gateway', 'main.ts');

/** How the simulator behaves from its start (its environment variables). */
export interface GatewaySettings {
  /** GATEWAY_LATENCY. Default `uniform:2-10`. */
  latency?: string;
  /** GATEWAY_FAILURE_RATE. Default 0. */
  failureRate?: number;
  /** GATEWAY_DECLINE_RATE. Default 0.05. */
  declineRate?: number;
}

export class GatewayProcess {
  readonly #ledgerFile: string;
  #port = 0;
  #process: ManagedProcess | undefined;

  private constructor(ledgerFile: string) {
    this.#ledgerFile = ledgerFile;
  }

  /** Starts a simulator on a free port keeping its ledger in `ledgerFile`. */
  static async start(ledgerFile: string, settings: GatewaySettings = {}): Promise<GatewayProcess> {
    const gateway = new GatewayProcess(ledgerFile);
    await gateway.start(settings);
    return gateway;
  }

  get url(): string {
    return `http://127.0.0.1:${this.#port}`;
  }

  get ledgerFile(): string {
    return this.#ledgerFile;
  }

  get pid(): number {
    return this.#process?.pid ?? -1;
  }

  get isRunning(): boolean {
    return this.#process !== undefined && !this.#process.hasExited;
  }

  /** Starts the simulator (again: same port, same ledger) with `settings`. */
  async start(settings: GatewaySettings = {}): Promise<void> {
    if (this.isRunning) throw new Error('gateway: already running');
    const { process: child, match } = await ManagedProcess.start({
      name: 'gateway',
      command: process.execPath,
      args: ['--conditions=source', '--import', 'tsx', main],
      cwd: root,
      env: {
        GATEWAY_HOST: '127.0.0.1',
        GATEWAY_PORT: String(this.#port),
        GATEWAY_LEDGER_FILE: this.#ledgerFile,
        GATEWAY_LATENCY: settings.latency ?? 'uniform:2-10',
        GATEWAY_FAILURE_RATE: String(settings.failureRate ?? 0),
        GATEWAY_DECLINE_RATE: String(settings.declineRate ?? 0.05),
        GATEWAY_FAULTS: '',
      },
      readyLine: /gateway simulator listening on http:\/\/127\.0\.0\.1:(\d+)/,
    });
    this.#process = child;
    this.#port = Number(match[1]);
  }

  /** Sends `signal` (SIGKILL, SIGTERM, SIGSTOP, SIGCONT) to the simulator by its PID. */
  signal(signal: NodeJS.Signals): void {
    this.#process?.signal(signal);
  }

  /** Ends the simulator with `signal` and waits for its exit. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    await this.#process?.stop(signal);
  }

  /** Stops the simulator (SIGTERM) and starts it again with `settings` on the same port. */
  async restart(settings: GatewaySettings = {}): Promise<void> {
    await this.stop('SIGTERM');
    await this.start(settings);
  }

  /** Changes the faults in force (fields left out keep their value). */
  async setFaults(patch: Partial<GatewayFaults>): Promise<void> {
    const { statusCode, body } = await request(`${this.url}/_faults`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(patch),
    });
    const text = await body.text();
    if (statusCode !== 200) throw new Error(`gateway /_faults answered ${statusCode}: ${text}`);
  }

  /** Back to a healthy gateway. */
  async clearFaults(): Promise<void> {
    const { statusCode, body } = await request(`${this.url}/_faults`, { method: 'DELETE' });
    await body.dump();
    if (statusCode !== 200) throw new Error(`gateway DELETE /_faults answered ${statusCode}`);
  }
}
