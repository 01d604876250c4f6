/**
 * Builds the payments service for tests: a database (embedded PGlite in memory, or a fresh
 * database on the test PostgreSQL server), the gateway simulator on a loopback port, and the
 * Fastify app, all closed by `close()`.
 */
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import type { FastifyInstance } from 'fastify';
import { connectPostgres, migrate, startEmbedded, type Database } from 'hotpath/db';
import { buildTestService } from './app.js';
import { GatewayClient } from '../../service/gateway/client.js';
import { parseLatency, seededRandom } from '../../service/gateway/latency.js';
import { createGatewayServer } from '../../service/gateway/simulator.js';
import { migrations } from '../../service/migrations/index.js';
import type { PaymentService } from '../../service/payments/payment-service.js';
import type { Observability } from '../../service/plugins/observability.js';
import { Reconciler } from '../../service/payments/reconciler.js';
import { createTestDatabase, postgresForTests } from './services.js';

export type Backend = { kind: 'pglite' } | { kind: 'postgres'; adminUrl: string };

/**
 * The two storage backends every service suite runs on: embedded PGlite, and the PostgreSQL
 * test server (skipped with a reason when it is not installed, failing under CI=1).
 */
export async function serviceBackends(): Promise<[string, Backend, string | false][]> {
  const pg = await postgresForTests();
  return [
    ['embedded PGlite', { kind: 'pglite' }, false],
    ['PostgreSQL server', { kind: 'postgres', adminUrl: pg.url }, pg.skip],
  ];
}

export interface TestServiceOptions {
  latency?: string;
  failureRate?: number;
  declineRate?: number;
  retries?: number;
  timeoutMs?: number;
  nPlusOne?: 'batched' | 'naive';
}

export interface TestService {
  app: FastifyInstance;
  /** The app's payment service (what the reconciler works on). */
  payments: PaymentService;
  /** The app's metrics and dashboard. */
  observability: Observability;
  db: Database;
  gatewayUrl: string;
  /** The service's gateway client. */
  gateway: GatewayClient;
  /** A reconciler over the service's payments (not started: call `sweep()`). */
  reconciler: Reconciler;
  close(): Promise<void>;
}

export async function openDatabase(
  backend: Backend,
): Promise<{ db: Database; drop: () => Promise<void> }> {
  if (backend.kind === 'pglite') {
    return { db: await startEmbedded({ dataDir: 'memory://' }), drop: async () => {} };
  }
  const created = await createTestDatabase(backend.adminUrl);
  return { db: await connectPostgres(created.url), drop: created.drop };
}

export async function startGateway(
  options: TestServiceOptions = {},
): Promise<{ server: Server; url: string }> {
  const server = createGatewayServer({
    latency: parseLatency(options.latency ?? 'none'),
    failureRate: options.failureRate ?? 0,
    declineRate: options.declineRate ?? 0,
    random: seededRandom(42),
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { server, url: `http://127.0.0.1:${port}` };
}

export async function startTestService(
  backend: Backend,
  options: TestServiceOptions = {},
): Promise<TestService> {
  const { db, drop } = await openDatabase(backend);
  await migrate(db, migrations);
  const gateway = await startGateway(options);
  const client = new GatewayClient({
    url: gateway.url,
    retries: options.retries ?? 0,
    timeoutMs: options.timeoutMs ?? 2000,
    backoffMs: 1,
  });
  const { app, payments, observability } = await buildTestService(
    { nPlusOne: options.nPlusOne ?? 'batched' },
    { db, gateway: client },
  );
  const reconciler = new Reconciler({
    payments,
    gateway: client,
    leaseMs: client.chargeBudgetMs + 1000,
    backoffMs: 1,
    maxBackoffMs: 1,
  });
  return {
    app,
    payments,
    observability,
    db,
    gatewayUrl: gateway.url,
    gateway: client,
    reconciler,
    close: async () => {
      await reconciler.close();
      await app.close();
      await client.close();
      await new Promise<void>((resolve) => {
        gateway.server.closeAllConnections();
        gateway.server.close(() => resolve());
      });
      await db.close();
      await drop();
    },
  };
}

/** Counts rows in payments: tests check that rejected input wrote nothing. */
export async function paymentCount(db: Database): Promise<number> {
  const { rows } = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM payments');
  return rows[0]?.n ?? 0;
}
