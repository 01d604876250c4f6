/**
 * The gateway simulator as its own process. Configured by environment variables
 * (GATEWAY_HOST, GATEWAY_PORT, GATEWAY_LATENCY, GATEWAY_FAILURE_RATE, GATEWAY_DECLINE_RATE,
 * GATEWAY_SEED, GATEWAY_LEDGER_FILE, GATEWAY_FAULTS). When forked by the service it reports
 * its URL over IPC.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { NO_FAULTS, parseFaults, type GatewayFaults } from './faults.js';
import { parseLatency, seededRandom } from './latency.js';
import { createGatewayServer } from './simulator.js';

function fail(message: string): never {
  console.error(`gateway: ${message}`);
  process.exit(1);
}

function rate(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0 || value > 1)
    fail(`${name}: expected a number in [0, 1], got "${raw}"`);
  return value;
}

let latency;
try {
  latency = parseLatency(process.env.GATEWAY_LATENCY ?? 'lognormal:20:150');
} catch (error) {
  fail(`GATEWAY_LATENCY: ${(error as Error).message}`);
}
const port = Number(process.env.GATEWAY_PORT ?? 3001);
if (!Number.isInteger(port) || port < 0 || port > 65535)
  fail(`GATEWAY_PORT: expected a port, got "${process.env.GATEWAY_PORT}"`);
const host = process.env.GATEWAY_HOST ?? '127.0.0.1';
const seed = process.env.GATEWAY_SEED;
const ledgerFile = process.env.GATEWAY_LEDGER_FILE;

let faults: GatewayFaults = { ...NO_FAULTS };
const faultsJson = process.env.GATEWAY_FAULTS;
if (faultsJson !== undefined && faultsJson !== '') {
  try {
    faults = parseFaults(JSON.parse(faultsJson));
  } catch (error) {
    fail(`GATEWAY_FAULTS: ${(error as Error).message} in "${faultsJson}"`);
  }
}

let server: Server;
try {
  server = createGatewayServer({
    latency,
    failureRate: rate('GATEWAY_FAILURE_RATE', 0.01),
    declineRate: rate('GATEWAY_DECLINE_RATE', 0.05),
    ...(seed !== undefined && seed !== '' ? { random: seededRandom(Number(seed)) } : {}),
    ...(ledgerFile !== undefined && ledgerFile !== '' ? { ledgerFile } : {}),
    faults,
  });
} catch (error) {
  fail(`GATEWAY_LEDGER_FILE: ${(error as Error).message}`);
}

server.on('error', (error) => fail(`cannot listen on ${host}:${port}: ${error.message}`));
server.listen(port, host, () => {
  const address = server.address() as AddressInfo;
  const url = `http://${host}:${address.port}`;
  if (process.send) process.send({ ready: true, url });
  else console.log(`gateway simulator listening on ${url}`);
});

const stop = () => {
  server.close(() => process.exit(0));
  server.closeIdleConnections();
  setTimeout(() => process.exit(0), 2000).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.on('disconnect', stop);
