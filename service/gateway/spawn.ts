import { fork, type ChildProcess } from 'node:child_process';
import type { ServiceConfig } from '../config.js';

/** A gateway simulator running as a child process. */
export interface SpawnedGateway {
  url: string;
  stop(): Promise<void>;
}

/**
 * Starts the gateway simulator in its own process (service/gateway/main) and resolves with its
 * URL once it listens. The child dies with the service: it exits when the IPC channel closes.
 */
export function spawnGateway(
  config: Pick<
    ServiceConfig,
    'host' | 'gatewayPort' | 'gatewayLatency' | 'gatewayFailureRate' | 'gatewayDeclineRate'
  >,
): Promise<SpawnedGateway> {
  const extension = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
  const entry = new URL(`./main${extension}`, import.meta.url);
  const child: ChildProcess = fork(entry, [], {
    env: {
      ...process.env,
      GATEWAY_HOST: '127.0.0.1',
      GATEWAY_PORT: String(config.gatewayPort),
      GATEWAY_LATENCY: config.gatewayLatency,
      GATEWAY_FAILURE_RATE: String(config.gatewayFailureRate),
      GATEWAY_DECLINE_RATE: String(config.gatewayDeclineRate),
    },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  return new Promise((resolve, reject) => {
    const onExit = (code: number | null) =>
      reject(new Error(`gateway simulator exited with code ${code} before listening`));
    child.once('exit', onExit);
    child.once('error', reject);
    child.once('message', (message: { ready?: boolean; url?: string }) => {
      if (message.ready !== true || message.url === undefined) return;
      child.off('exit', onExit);
      resolve({
        url: message.url,
        stop: () =>
          new Promise<void>((done) => {
            if (child.exitCode !== null || child.signalCode !== null) return done();
            child.once('exit', () => done());
            child.kill('SIGTERM');
          }),
      });
    });
  });
}
