/**
 * The gateway simulator as a supervised child process. The service forks
 * service/gateway/main, and when the child exits without being asked to (a crash, a SIGKILL,
 * the OOM killer) the supervisor logs it, reports the state `down`, and forks it again on the
 * same port after an exponential backoff. The child keeps its ledger in a file, so a restarted
 * simulator still knows every charge and replays instead of charging twice.
 *
 *   up --exit--> down --backoff--> restarting --ready--> up
 *                  ^                    |
 *                  +------failed--------+
 */
import { fork, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ServiceConfig } from '../config.js';
import type { GatewayFaults } from './faults.js';
import { parseLatencySpec } from './latency.js';
import {
  GatewaySettingError,
  gatewaySettingsFromEnv,
  checkGatewaySettings,
  type GatewaySettings,
  type GatewaySettingsMessage,
} from './settings.js';

/** A gateway simulator running as a child process. */
export interface SpawnedGateway {
  url: string;
  stop(): Promise<void>;
}

/**
 * `up`: the child listens. `down`: it exited (or failed to start) and a restart is scheduled,
 * or the supervisor was stopped. `restarting`: a new child is starting.
 */
export type GatewayState = 'up' | 'down' | 'restarting';

/** What a `state` event carries. */
export interface GatewayStateChange {
  state: GatewayState;
  previous: GatewayState;
  /** Restarts attempted so far (successful or not). */
  restarts: number;
  /** Why the state changed, one line (as logged). */
  reason: string;
}

/** Options of {@link spawnGateway}. */
export interface SpawnGatewayOptions {
  /** Where supervision lines go. Default: stderr, prefixed `hotpath: `. */
  log?: (message: string) => void;
  /** Called on every state change (same as the `state` event). */
  onStateChange?: (change: GatewayStateChange) => void;
  /**
   * The simulator's ledger file, kept across restarts. Default: GATEWAY_LEDGER_FILE, else
   * `ledger.ndjson` in a new temporary directory removed by `stop()` (the ledger then lives
   * as long as the supervisor, not across service restarts).
   */
  ledgerFile?: string;
  /**
   * Faults in force from the start of every child (a restarted child starts from them again).
   * Default: GATEWAY_FAULTS of this process, else none.
   */
  faults?: Partial<GatewayFaults>;
  /** Seed of the simulator's random draws. Default: GATEWAY_SEED of this process, else unset. */
  seed?: number;
  /** First restart delay; doubles after each failed or short-lived run. Default 100 ms. */
  minBackoffMs?: number;
  /** Largest restart delay. Default 10,000 ms. */
  maxBackoffMs?: number;
  /** A child up this long resets the delay to `minBackoffMs`. Default 30,000 ms. */
  resetBackoffAfterMs?: number;
  /** A child not listening after this long is killed and counts as failed. Default 30,000 ms. */
  startTimeoutMs?: number;
}

/** The settings of the simulator child: where it listens, its latency and its failure rates. */
export type SimulatorConfig = Pick<
  ServiceConfig,
  'host' | 'gatewayPort' | 'gatewayLatency' | 'gatewayFailureRate' | 'gatewayDeclineRate'
>;

const STOP_GRACE_MS = 5000;

function positive(name: string, value: number): number {
  if (!Number.isFinite(value) || value <= 0)
    throw new Error(`${name}: expected a positive number of ms, got ${value}`);
  return value;
}

/**
 * The supervisor of one simulator child. `url` stays valid across restarts (same port); `pid`
 * is the current child's. Emits `state` with a {@link GatewayStateChange}.
 */
export class SupervisedGateway
  extends EventEmitter<{ state: [GatewayStateChange] }>
  implements SpawnedGateway
{
  readonly #log: (message: string) => void;
  readonly #settings: GatewaySettings;
  readonly #minBackoffMs: number;
  readonly #maxBackoffMs: number;
  readonly #resetBackoffAfterMs: number;
  readonly #startTimeoutMs: number;
  readonly #ledgerFile: string;
  readonly #ownedDir: string | undefined;
  readonly #cleanupOnExit = () => this.#removeOwnedDir();
  #url = '';
  #port: number;
  #child: ChildProcess | undefined;
  #state: GatewayState = 'restarting';
  #restarts = 0;
  #backoffMs: number;
  #restartTimer: NodeJS.Timeout | undefined;
  #stableTimer: NodeJS.Timeout | undefined;
  #stopping: Promise<void> | undefined;

  /**
   * Use {@link spawnGateway}, which also starts the first child.
   * @throws GatewaySettingError when the latency, rates, faults or seed are not valid (before
   *   any child is forked).
   */
  constructor(config: SimulatorConfig, options: SpawnGatewayOptions = {}) {
    super();
    this.#log = options.log ?? ((message) => console.error(`hotpath: ${message}`));
    this.#minBackoffMs = positive('minBackoffMs', options.minBackoffMs ?? 100);
    this.#maxBackoffMs = positive('maxBackoffMs', options.maxBackoffMs ?? 10_000);
    if (this.#maxBackoffMs < this.#minBackoffMs)
      throw new Error(`maxBackoffMs: must be at least minBackoffMs (${this.#minBackoffMs})`);
    this.#resetBackoffAfterMs = positive(
      'resetBackoffAfterMs',
      options.resetBackoffAfterMs ?? 30_000,
    );
    this.#startTimeoutMs = positive('startTimeoutMs', options.startTimeoutMs ?? 30_000);
    this.#backoffMs = this.#minBackoffMs;
    this.#port = config.gatewayPort;
    const ledgerFile = options.ledgerFile ?? process.env.GATEWAY_LEDGER_FILE;
    if (ledgerFile !== undefined && ledgerFile !== '') {
      this.#ledgerFile = ledgerFile;
    } else {
      this.#ownedDir = mkdtempSync(join(tmpdir(), 'hotpath-gateway-'));
      this.#ledgerFile = join(this.#ownedDir, 'ledger.ndjson');
      // A service that exits without stop() (a fatal error) leaves no directory behind.
      process.once('exit', this.#cleanupOnExit);
    }
    try {
      this.#settings = childSettings(config, options, this.#ledgerFile);
    } catch (error) {
      this.#removeOwnedDir();
      throw error;
    }
    if (options.onStateChange) this.on('state', options.onStateChange);
  }

  /** The simulator's URL; the same after every restart. */
  get url(): string {
    return this.#url;
  }

  /** The current child's process id (undefined while none runs). */
  get pid(): number | undefined {
    return this.#child?.pid;
  }

  get state(): GatewayState {
    return this.#state;
  }

  /** Restarts attempted since the first start. */
  get restarts(): number {
    return this.#restarts;
  }

  /** The ledger file every child of this supervisor reads and appends to. */
  get ledgerFile(): string {
    return this.#ledgerFile;
  }

  /**
   * Starts the first child and resolves once it listens.
   * @throws Error when it exits or times out before listening (no restart then: a simulator
   *   that cannot start at all is a configuration error).
   */
  async start(): Promise<this> {
    try {
      await this.#startChild();
    } catch (error) {
      this.#removeOwnedDir();
      throw error;
    }
    this.#setState('up', `gateway simulator (pid ${this.pid}) listening on ${this.#url}`);
    this.#armStableTimer();
    return this;
  }

  /** Ends supervision and the child (SIGTERM, then SIGKILL after 5 s); removes a temp ledger. */
  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<void> {
    clearTimeout(this.#restartTimer);
    clearTimeout(this.#stableTimer);
    const child = this.#child;
    if (child !== undefined && child.exitCode === null && child.signalCode === null) {
      await new Promise<void>((done) => {
        const force = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
        child.once('exit', () => {
          clearTimeout(force);
          done();
        });
        child.kill('SIGTERM');
      });
    }
    this.#child = undefined;
    this.#removeOwnedDir();
    if (this.#state !== 'down') this.#setState('down', 'gateway simulator stopped');
  }

  #removeOwnedDir(): void {
    process.off('exit', this.#cleanupOnExit);
    if (this.#ownedDir !== undefined) rmSync(this.#ownedDir, { recursive: true, force: true });
  }

  #setState(state: GatewayState, reason: string): void {
    const previous = this.#state;
    this.#state = state;
    this.emit('state', { state, previous, restarts: this.#restarts, reason });
  }

  /** Forks a child on the port and resolves once it listens; it is then the current child. */
  #startChild(): Promise<void> {
    const extension = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
    const entry = new URL(`./main${extension}`, import.meta.url);
    // The child gets its settings, parsed here, as its first IPC message: no GATEWAY_*
    // variable is written for it to parse again, and none it inherits is read.
    const child: ChildProcess = fork(entry, ['--settings=ipc'], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      // Its own process group: a Ctrl-C or a signal to the service's group is the service's to
      // handle (drain, then stop() the child), not a crash to restart. The child still exits
      // when the service does: its IPC channel closes.
      detached: true,
    });
    this.#child = child;
    return new Promise((resolve, reject) => {
      const failed = (error: Error) => {
        clearTimeout(timeout);
        child.off('exit', onExit);
        child.off('message', onMessage);
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
        if (this.#child === child) this.#child = undefined;
        reject(error);
      };
      const onExit = (code: number | null, signal: NodeJS.Signals | null) =>
        failed(
          new Error(`gateway simulator exited (${signal ?? `code ${code}`}) before listening`),
        );
      const onMessage = (message: { ready?: boolean; url?: string }) => {
        if (message.ready !== true || message.url === undefined) return;
        clearTimeout(timeout);
        child.off('exit', onExit);
        child.off('message', onMessage);
        this.#url = message.url;
        this.#port = Number(new URL(message.url).port);
        child.once('exit', (code, signal) => this.#onExit(child, code, signal));
        resolve();
      };
      const timeout = setTimeout(
        () => failed(new Error(`gateway simulator not listening after ${this.#startTimeoutMs} ms`)),
        this.#startTimeoutMs,
      );
      // A failed kill or IPC send is reported by 'exit' or the timeout; never an uncaught error.
      child.on('error', () => {});
      child.once('exit', onExit);
      child.on('message', onMessage);
      const message: GatewaySettingsMessage = {
        type: 'gateway-settings',
        settings: { ...this.#settings, port: this.#port },
      };
      child.send(message);
    });
  }

  #onExit(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.#stopping !== undefined || this.#child !== child) return;
    this.#child = undefined;
    clearTimeout(this.#stableTimer);
    const how = signal === null ? `with code ${code}` : `on ${signal}`;
    this.#scheduleRestart(`gateway simulator (pid ${child.pid}) exited ${how}`);
  }

  #scheduleRestart(why: string): void {
    const delayMs = this.#backoffMs;
    this.#backoffMs = Math.min(this.#backoffMs * 2, this.#maxBackoffMs);
    const reason = `${why}; restarting in ${delayMs} ms`;
    this.#log(reason);
    this.#setState('down', reason);
    this.#restartTimer = setTimeout(() => void this.#restart(), delayMs);
  }

  async #restart(): Promise<void> {
    if (this.#stopping !== undefined) return;
    this.#restarts += 1;
    this.#setState('restarting', `gateway simulator restart ${this.#restarts}`);
    try {
      await this.#startChild();
    } catch (error) {
      if (this.#stopping === undefined)
        this.#scheduleRestart(`gateway simulator restart failed: ${(error as Error).message}`);
      return;
    }
    // stop() came while the child was starting: it waits for the child it saw, if any.
    if (this.#stopping !== undefined) {
      this.#child?.kill('SIGTERM');
      return;
    }
    const reason = `gateway simulator restarted (pid ${this.pid}) on ${this.#url}`;
    this.#log(reason);
    this.#setState('up', reason);
    this.#armStableTimer();
  }

  #armStableTimer(): void {
    clearTimeout(this.#stableTimer);
    this.#stableTimer = setTimeout(() => {
      this.#backoffMs = this.#minBackoffMs;
    }, this.#resetBackoffAfterMs);
    this.#stableTimer.unref();
  }
}

/** The settings every child of a supervisor starts with (its port set per start). */
function childSettings(
  config: SimulatorConfig,
  options: SpawnGatewayOptions,
  ledgerFile: string,
): GatewaySettings {
  let latency;
  try {
    latency = parseLatencySpec(config.gatewayLatency);
  } catch (error) {
    throw new GatewaySettingError('GATEWAY_LATENCY', (error as Error).message);
  }
  const inherited = gatewaySettingsFromEnv({
    GATEWAY_SEED: process.env.GATEWAY_SEED,
    GATEWAY_FAULTS: process.env.GATEWAY_FAULTS,
  });
  const seed = options.seed ?? inherited.seed;
  return checkGatewaySettings({
    host: '127.0.0.1',
    port: config.gatewayPort,
    latency,
    failureRate: config.gatewayFailureRate,
    declineRate: config.gatewayDeclineRate,
    ledgerFile,
    faults: options.faults ?? inherited.faults,
    ...(seed === undefined ? {} : { seed }),
  });
}

/**
 * Starts the gateway simulator (service/gateway/main) in a supervised child process and
 * resolves once it listens. The child exits with the service (when the IPC channel closes);
 * when it exits on its own it is restarted on the same port with the same ledger file.
 * @throws Error when the first child cannot start (bad port, port in use, bad ledger file).
 * @example
 * const gateway = await spawnGateway(config, { log: say });
 * gateway.on('state', ({ state }) => ready.set('gateway', state === 'up'));
 * ...
 * await gateway.stop();
 */
export function spawnGateway(
  config: SimulatorConfig,
  options: SpawnGatewayOptions = {},
): Promise<SupervisedGateway> {
  return new SupervisedGateway(config, options).start();
}
