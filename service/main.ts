/**
 * The payments service process and its composition root: the parsed config -> compose() builds
 * every dependency (gateway simulator and client, databases + migrations, Redis, observability,
 * cache) -> buildApp gets the settings it uses and what was built -> the reconciler -> listen,
 * then drain on SIGTERM/SIGINT: stop accepting, finish in-flight requests, close pools, exit 0.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Cache } from 'hotpath/cache';
import { createDatabase, instrumentPool, PostgresDatabase, type Database } from 'hotpath/db';
import type { Redis } from 'ioredis';
import {
  appOptions,
  buildApp,
  createPaymentsCache,
  createReceipts,
  type ReadinessCheck,
} from './app.js';
import { isClusterPrimary, runPrimary, shareWorkerMetrics } from './cluster.js';
import { ConfigError, configHelp, loadConfig, type ServiceConfig } from './config.js';
import { GatewayClient } from './gateway/client.js';
import { spawnGateway, type SupervisedGateway } from './gateway/spawn.js';
import { migrations } from './migrations/index.js';
import { Reconciler } from './payments/reconciler.js';
import type { Receipts } from './receipts/receipts.js';
import { createObservability, type Observability } from './plugins/observability.js';
import { reconcilerPanels } from './plugins/reconciler-panels.js';
import { routesOf, startupBanner } from './route-table.js';

/** How long readiness reports the gateway simulator degraded after it went down. */
const GATEWAY_RESTART_VISIBLE_MS = 30_000;

function fatal(message: string): never {
  console.error(`hotpath: ${message}`);
  process.exit(1);
}

function say(message: string): void {
  console.log(`hotpath: ${message}`);
}

/** Logs the first error at once, then at most one line per `everyMs` with the count suppressed. */
function rateLimitedLog(log: (message: string) => void, what: string, everyMs: number) {
  let last = 0;
  let suppressed = 0;
  return {
    report(error: unknown): void {
      const now = Date.now();
      if (now - last < everyMs) {
        suppressed++;
        return;
      }
      const more = suppressed > 0 ? ` (${suppressed} more since the last line)` : '';
      log(`${what}: ${(error as Error).message}${more}`);
      last = now;
      suppressed = 0;
    },
  };
}

async function connectRedis(url: string): Promise<Redis> {
  const { Redis: RedisClient } = await import('ioredis');
  const redis = new RedisClient(url, {
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
  });
  // Connection errors are reported by readiness, not as unhandled 'error' events.
  redis.on('error', () => {});
  try {
    await redis.connect();
    await redis.ping();
  } catch (error) {
    redis.disconnect();
    throw new ConfigError('REDIS_URL', `cannot connect to Redis: ${(error as Error).message}`);
  }
  return redis;
}

/** A start-up failure: its message is the one line printed before exit code 1. */
class StartError extends Error {
  override readonly name = 'StartError';
}

/** What the service process runs on, built from the config by {@link compose}. */
interface Services {
  /** The supervised simulator child when GATEWAY_URL is unset. */
  simulator: SupervisedGateway | undefined;
  gatewayUrl: string;
  gateway: GatewayClient;
  /** The database (the first shard with DATABASE_SHARD_URLS). */
  db: Database;
  /** Every shard in order, `db` first, with DATABASE_SHARD_URLS. */
  shards: Database[] | undefined;
  replica: Database | undefined;
  redis: Redis | undefined;
  observability: Observability;
  /** The read cache (CACHE=on); buildApp closes it with the app. */
  cache: Cache | undefined;
  /** The receipt signer (RECEIPTS=pool: a worker thread); buildApp closes it with the app. */
  receipts: Receipts;
  /** Readiness checks the app adds to its own: the gateway. */
  checks: ReadinessCheck[];
  /** Closes what compose opened, last opened first (the app's parts close with the app). */
  close(): Promise<void>;
}

/**
 * Builds every dependency of the service from the config, in order; on a failure closes what it
 * had opened and throws a {@link StartError} naming the setting.
 */
async function compose(config: ServiceConfig): Promise<Services> {
  const opened: (() => Promise<void> | void)[] = [];
  const close = async () => {
    for (const closer of opened.splice(0).reverse()) await closer();
  };
  const step = async <T>(what: (error: Error) => string, run: () => Promise<T>): Promise<T> => {
    try {
      return await run();
    } catch (error) {
      await close();
      throw new StartError(what(error as Error), { cause: error });
    }
  };

  let gatewayLastDownAt = 0;
  const simulator =
    config.gatewayUrl !== undefined
      ? undefined
      : await step(
          (e) => `GATEWAY_PORT: cannot start the gateway simulator: ${e.message}`,
          () =>
            spawnGateway(config, {
              log: say,
              onStateChange: (change) => {
                if (change.state === 'down') gatewayLastDownAt = Date.now();
              },
              ...ledgerOf(config.dataDir),
            }),
        );
  if (simulator !== undefined) opened.push(() => simulator.stop());
  const gatewayUrl = simulator?.url ?? config.gatewayUrl!;

  const shards =
    config.databaseShardUrls === undefined
      ? undefined
      : await step(
          (e) => `DATABASE_SHARD_URLS: ${e.message}`,
          () => connectShards(config),
        );
  const db =
    shards?.[0] ??
    (await step(
      (e) => `${config.databaseUrl === undefined ? 'DATA_DIR' : 'DATABASE_URL'}: ${e.message}`,
      () =>
        createDatabase({
          url: config.databaseUrl,
          dataDir: config.dataDir,
          poolMax: config.dbPoolMax,
          onProgress: say,
        }),
    ));
  const databases = shards ?? [db];
  opened.push(() => Promise.all(databases.map((d) => d.close())).then(() => {}));
  // Parameterized queries go as named statements, parsed and planned once per connection.
  for (const database of databases) preparedStatements(config, database);
  const { migrate } = await import('hotpath/db');
  const migrated = await step(
    (e) => `database migration failed: ${e.message}`,
    () => Promise.all(databases.map((d) => migrate(d, migrations))),
  );
  migrated.forEach(({ applied, current }, index) =>
    say(
      `database${shards === undefined ? '' : ` shard ${index}`} schema at version ${current}${applied.length > 0 ? ` (applied ${applied.join(', ')})` : ''}`,
    ),
  );

  const redisUrl = config.redisUrl;
  const redis =
    redisUrl === undefined
      ? undefined
      : await step(
          (e) => e.message,
          () => connectRedis(redisUrl),
        );
  if (redis !== undefined) opened.push(() => redis.disconnect());

  const replicaUrl = config.databaseReplicaUrl;
  const replica =
    replicaUrl === undefined
      ? undefined
      : await step(
          (e) => `DATABASE_REPLICA_URL: ${e.message}`,
          () => createDatabase({ url: replicaUrl, poolMax: config.dbPoolMax }),
        );
  if (replica !== undefined) {
    opened.push(() => replica.close());
    preparedStatements(config, replica);
  }

  const gateway = new GatewayClient({
    url: gatewayUrl,
    timeoutMs: config.gatewayTimeoutMs,
    retries: config.gatewayRetries,
    connections: config.gatewayConnections,
    limit: config.gatewayLimit,
    maxConcurrent: config.gatewayMaxConcurrent,
    retryBudget: config.gatewayRetryBudget,
    breaker: config.gatewayBreaker === 'on',
  });
  opened.push(() => gateway.close());
  const gatewayCheck: ReadinessCheck = {
    name: 'gateway',
    // Payments keep being accepted while the gateway is away: they stay pending.
    critical: false,
    check: async () => {
      if (simulator !== undefined && simulator.state !== 'up')
        throw new Error(`simulator ${simulator.state} (${simulator.restarts} restarts)`);
      // A restart stays visible for a while: a crash loop shows even between crashes.
      const sinceDownMs = Date.now() - gatewayLastDownAt;
      if (simulator !== undefined && sinceDownMs < GATEWAY_RESTART_VISIBLE_MS) {
        throw new Error(
          `simulator restarted ${(sinceDownMs / 1000).toFixed(0)} s ago (${simulator.restarts} restarts)`,
        );
      }
      if (gateway.stats.circuit === 'open') throw new Error('circuit open');
    },
  };

  const observability = createObservability({ instance: config.instanceId });
  return {
    simulator,
    gatewayUrl,
    gateway,
    db,
    shards,
    replica,
    redis,
    observability,
    cache: config.cache === 'on' ? createPaymentsCache(redis) : undefined,
    receipts: createReceipts(config, observability.registry),
    checks: [gatewayCheck],
    close,
  };
}

/**
 * The simulator's ledger lives beside the embedded database, so a restarted service meets a
 * gateway that still knows every charge (as a real one would).
 */
function ledgerOf(dataDir: string): { ledgerFile?: string } {
  if (dataDir.startsWith('memory://')) return {};
  mkdirSync(dataDir, { recursive: true });
  return { ledgerFile: join(dataDir, 'gateway-ledger.ndjson') };
}

/** PREPARED=on on a PostgreSQL server: parameterized queries go as named statements. */
function preparedStatements(config: ServiceConfig, database: Database): void {
  if (config.prepared === 'on' && database instanceof PostgresDatabase) {
    instrumentPool(database.pool, { prepare: true, stats: false });
  }
}

async function start(config: ServiceConfig): Promise<void> {
  let services: Services;
  try {
    services = await compose(config);
  } catch (error) {
    if (error instanceof StartError) fatal(error.message);
    throw error;
  }
  const { simulator, gatewayUrl, gateway, db, shards, replica, redis, observability } = services;
  const { app, payments } = await buildApp(appOptions(config), {
    db,
    ...(shards === undefined ? {} : { shards }),
    ...(replica === undefined ? {} : { replica }),
    gateway,
    ...(redis === undefined ? {} : { redis, cacheRedis: redis }),
    checks: services.checks,
    observability,
    cache: services.cache,
    receipts: services.receipts,
  });

  // Pending payments (an unknown outcome, a crash) are settled by asking the gateway, now and
  // every RECOVERY_INTERVAL_MS; a sweep never overlaps the previous one.
  const reconcileErrors = rateLimitedLog(
    (message) => app.log.error(message),
    'reconciler sweep failed',
    10_000,
  );
  const reconciler = new Reconciler({
    payments,
    gateway,
    concurrency: config.reconcileConcurrency,
    leaseMs: gateway.chargeBudgetMs + 5000,
    onError: (error) => reconcileErrors.report(error),
  });
  reconcilerPanels(observability, () => reconciler.stats);
  reconciler.start(config.recoveryIntervalMs);
  // In a cluster worker (WORKERS > 1): the primary merges every worker's metrics.
  const stopSharing = shareWorkerMetrics(observability);

  try {
    await app.listen({ host: config.host, port: config.port });
  } catch (error) {
    fatal(`PORT: cannot listen on ${config.host}:${config.port}: ${(error as Error).message}`);
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : config.port;
  const base = `http://${config.host}:${port}`;
  say(`payments service listening on ${base}`);
  for (const line of startupBanner(base, routesOf(app))) say(line);
  say(
    simulator === undefined
      ? `gateway at ${gatewayUrl}`
      : `gateway simulator (pid ${simulator.pid}) at ${gatewayUrl}`,
  );
  say(
    `database: ${shards !== undefined ? `${shards.length} PostgreSQL shards, payments placed by user_id` : config.databaseUrl === undefined ? `embedded PGlite in ${config.dataDir}` : replica === undefined ? 'PostgreSQL server' : 'PostgreSQL server, reads on its replica'}`,
  );

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    say(`${signal}: draining in-flight requests`);
    app.draining = true;
    const force = setTimeout(() => {
      console.error(
        `hotpath: in-flight requests still running after ${config.shutdownTimeoutMs} ms; closing anyway`,
      );
      app.server.closeAllConnections();
    }, config.shutdownTimeoutMs);
    force.unref();
    // Fastify stops accepting, answers 503 to requests on kept-alive sockets, and resolves
    // when every in-flight request has been answered.
    await app.close();
    clearTimeout(force);
    await stopSharing?.();
    await reconciler.close();
    // The gateway client, the databases, Redis and the simulator, last opened first.
    await services.close();
    say('stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

/** Connects every shard of DATABASE_SHARD_URLS at once; throws naming the first that fails. */
async function connectShards(config: ServiceConfig): Promise<Database[]> {
  const urls = config.databaseShardUrls ?? [];
  const results = await Promise.allSettled(
    urls.map((url) => createDatabase({ url, poolMax: config.dbPoolMax })),
  );
  const failed = results.findIndex((r) => r.status === 'rejected');
  if (failed === -1) return results.map((r) => (r as PromiseFulfilledResult<Database>).value);
  await Promise.all(results.map((r) => (r.status === 'fulfilled' ? r.value.close() : undefined)));
  throw new Error(
    `shard ${failed}: ${((results[failed] as PromiseRejectedResult).reason as Error).message}`,
  );
}

const argv = process.argv.slice(2);
if (argv.includes('--help') || argv.includes('-h')) {
  console.log(configHelp());
  process.exit(0);
}
let config: ServiceConfig;
try {
  config = loadConfig(process.env, argv);
} catch (error) {
  if (error instanceof ConfigError) fatal(`invalid configuration: ${error.message}`);
  throw error;
}
if (isClusterPrimary(config)) await runPrimary(config, { say, fatal });
else await start(config);
