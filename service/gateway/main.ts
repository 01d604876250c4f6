/**
 * The gateway simulator as its own process. Run on its own, it is configured by environment
 * variables (GATEWAY_HOST, GATEWAY_PORT, GATEWAY_LATENCY, GATEWAY_FAILURE_RATE,
 * GATEWAY_DECLINE_RATE, GATEWAY_SEED, GATEWAY_LEDGER_FILE, GATEWAY_FAULTS). Forked by the
 * service with `--settings=ipc`, it reads no variable: it waits for its parsed settings as the
 * first IPC message, then reports its URL over IPC once it listens.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { latencySampler, seededRandom } from './latency.js';
import {
  checkGatewaySettings,
  gatewaySettingsFromEnv,
  isGatewaySettingsMessage,
  type GatewaySettings,
} from './settings.js';
import { createGatewayServer } from './simulator.js';

function fail(message: string): never {
  console.error(`gateway: ${message}`);
  process.exit(1);
}

function settingsFromParent(): Promise<GatewaySettings> {
  if (process.send === undefined) fail('--settings=ipc: no IPC channel (fork this process)');
  return new Promise((resolve) => {
    const onMessage = (message: unknown) => {
      if (!isGatewaySettingsMessage(message)) return;
      process.off('message', onMessage);
      try {
        resolve(checkGatewaySettings(message.settings));
      } catch (error) {
        fail(`settings: ${(error as Error).message}`);
      }
    };
    process.on('message', onMessage);
  });
}

function settingsFromEnv(): GatewaySettings {
  try {
    return gatewaySettingsFromEnv(process.env);
  } catch (error) {
    fail((error as Error).message);
  }
}

const stop = (server?: Server) => {
  if (server === undefined) process.exit(0);
  server.close(() => process.exit(0));
  server.closeIdleConnections();
  setTimeout(() => process.exit(0), 2000).unref();
};
let server: Server | undefined;
process.on('SIGTERM', () => stop(server));
process.on('SIGINT', () => stop(server));
process.on('disconnect', () => stop(server));

const settings = process.argv.includes('--settings=ipc')
  ? await settingsFromParent()
  : settingsFromEnv();

try {
  server = createGatewayServer({
    latency: latencySampler(settings.latency),
    failureRate: settings.failureRate,
    declineRate: settings.declineRate,
    ...(settings.seed !== undefined ? { random: seededRandom(settings.seed) } : {}),
    ...(settings.ledgerFile !== undefined ? { ledgerFile: settings.ledgerFile } : {}),
    faults: settings.faults,
  });
} catch (error) {
  fail(`GATEWAY_LEDGER_FILE: ${(error as Error).message}`);
}

const listening = server;
listening.on('error', (error) =>
  fail(`cannot listen on ${settings.host}:${settings.port}: ${error.message}`),
);
listening.listen(settings.port, settings.host, () => {
  const address = listening.address() as AddressInfo;
  const url = `http://${settings.host}:${address.port}`;
  if (process.send) process.send({ ready: true, url });
  else console.log(`gateway simulator listening on ${url}`);
});
