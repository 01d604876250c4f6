/**
 * The payments service process: config -> gateway -> database (+ migrations) -> app -> listen,
 * then drain on SIGTERM/SIGINT: stop accepting, finish in-flight requests, close pools, exit 0.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createDatabase, instrumentPool, PostgresDatabase, type Database } from 'hotpath/db';
import type { Redis } from 'ioredis';
import { appOptions, buildApp, createPaymentsCache } from './app.js';
import { isClusterPrimary, runPrimary, shareWorkerMetrics } from './cluster.js';
import { ConfigError, configHelp, loadConfig, type ServiceConfig } from './config.js';
import { GatewayClient } from './gateway/client.js';
import { spawnGateway, type SupervisedGateway } from './gateway/spawn.js';
import { migrations } from './migrations/index.js';
import { Reconciler } from './payments/reconciler.js';
import { createObservability } from './plugins/observability.js';
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

async function start(config: ServiceConfig): Promise<void> {
  let gateway: SupervisedGateway | undefined;
  let gatewayLastDownAt = 0;
  let gatewayUrl = config.gatewayUrl;
  if (gatewayUrl === undefined) {
    try {
      // The simulator's ledger lives beside the embedded database, so a restarted service meets
      // a gateway that still knows every charge (as a real one would).
      const ledgerFile = config.dataDir.startsWith('memory://')
        ? undefined
        : join(config.dataDir, 'gateway-ledger.ndjson');
      if (ledgerFile !== undefined) mkdirSync(config.dataDir, { recursive: true });
      gateway = await spawnGateway(config, {
        log: say,
        onStateChange: (change) => {
          if (change.state === 'down') gatewayLastDownAt = Date.now();
        },
        ...(ledgerFile === undefined ? {} : { ledgerFile }),
      });
    } catch (error) {
      fatal(`GATEWAY_PORT: cannot start the gateway simulator: ${(error as Error).message}`);
    }
    gatewayUrl = gateway.url;
  }

  let db: Database;
  // DATABASE_SHARD_URLS: every shard is connected and migrated before the service starts.
  let shards: Database[] | undefined;
  if (config.databaseShardUrls !== undefined) {
    shards = await connectShards(config, gateway);
    db = shards[0]!;
  } else {
    try {
      db = await createDatabase({
        url: config.databaseUrl,
        dataDir: config.dataDir,
        poolMax: config.dbPoolMax,
        onProgress: say,
      });
    } catch (error) {
      await gateway?.stop();
      fatal(
        `${config.databaseUrl === undefined ? 'DATA_DIR' : 'DATABASE_URL'}: ${(error as Error).message}`,
      );
    }
  }
  const databases = shards ?? [db];
  for (const database of databases) {
    if (config.prepared === 'on' && database instanceof PostgresDatabase) {
      // Parameterized queries go as named statements, parsed and planned once per connection.
      instrumentPool(database.pool, { prepare: true, stats: false });
    }
  }
  const migrated = await migrateOrExit(databases, gateway);
  migrated.forEach(({ applied, current }, index) =>
    say(
      `database${shards === undefined ? '' : ` shard ${index}`} schema at version ${current}${applied.length > 0 ? ` (applied ${applied.join(', ')})` : ''}`,
    ),
  );

  let redis: Redis | undefined;
  if (config.redisUrl !== undefined) {
    try {
      redis = await connectRedis(config.redisUrl);
    } catch (error) {
      await Promise.all(databases.map((d) => d.close()));
      await gateway?.stop();
      fatal((error as Error).message);
    }
  }

  let replica: Database | undefined;
  if (config.databaseReplicaUrl !== undefined) {
    try {
      replica = await createDatabase({ url: config.databaseReplicaUrl, poolMax: config.dbPoolMax });
    } catch (error) {
      await db.close();
      redis?.disconnect();
      await gateway?.stop();
      fatal(`DATABASE_REPLICA_URL: ${(error as Error).message}`);
    }
    if (config.prepared === 'on' && replica instanceof PostgresDatabase) {
      instrumentPool(replica.pool, { prepare: true, stats: false });
    }
  }

  const client = new GatewayClient({
    url: gatewayUrl,
    timeoutMs: config.gatewayTimeoutMs,
    retries: config.gatewayRetries,
    connections: config.gatewayConnections,
    limit: config.gatewayLimit,
    maxConcurrent: config.gatewayMaxConcurrent,
    retryBudget: config.gatewayRetryBudget,
    breaker: config.gatewayBreaker === 'on',
  });
  const simulator = gateway;
  const observability = createObservability({ instance: config.instanceId });
  const { app, payments } = await buildApp(appOptions(config), {
    observability,
    cache: config.cache === 'on' ? createPaymentsCache(redis) : undefined,
    db,
    ...(replica === undefined ? {} : { replica }),
    ...(shards === undefined ? {} : { shards }),
    gateway: client,
    checks: [
      {
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
          if (client.stats.circuit === 'open') throw new Error('circuit open');
        },
      },
    ],
    ...(redis ? { redis, cacheRedis: redis } : {}),
  });

  // Pending payments (an unknown outcome, a crash) are settled by asking the gateway, now and
  // every RECOVERY_INTERVAL_MS; a sweep never overlaps the previous one.
  const reconciler = new Reconciler({
    payments,
    gateway: client,
    concurrency: config.reconcileConcurrency,
    leaseMs: client.chargeBudgetMs + 5000,
    onError: (error) => reconcileErrors.report(error),
  });
  const reconcileErrors = rateLimitedLog(
    (message) => app.log.error(message),
    'reconciler sweep failed',
    10_000,
  );
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
    gateway === undefined
      ? `gateway at ${gatewayUrl}`
      : `gateway simulator (pid ${gateway.pid}) at ${gatewayUrl}`,
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
    await client.close();
    await Promise.all(databases.map((d) => d.close()));
    await replica?.close();
    redis?.disconnect();
    await gateway?.stop();
    say('stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

/** Connects every shard of DATABASE_SHARD_URLS at once; exits naming the first that fails. */
async function connectShards(
  config: ServiceConfig,
  gateway: SupervisedGateway | undefined,
): Promise<Database[]> {
  const urls = config.databaseShardUrls ?? [];
  const results = await Promise.allSettled(
    urls.map((url) => createDatabase({ url, poolMax: config.dbPoolMax })),
  );
  const failed = results.findIndex((r) => r.status === 'rejected');
  if (failed === -1) return results.map((r) => (r as PromiseFulfilledResult<Database>).value);
  await Promise.all(results.map((r) => (r.status === 'fulfilled' ? r.value.close() : undefined)));
  await gateway?.stop();
  fatal(
    `DATABASE_SHARD_URLS: shard ${failed}: ${((results[failed] as PromiseRejectedResult).reason as Error).message}`,
  );
}

/** Migrates every database (each shard) at once; exits when one fails. */
async function migrateOrExit(
  databases: readonly Database[],
  gateway: SupervisedGateway | undefined,
) {
  const { migrate } = await import('hotpath/db');
  try {
    return await Promise.all(databases.map((d) => migrate(d, migrations)));
  } catch (error) {
    await Promise.all(databases.map((d) => d.close()));
    await gateway?.stop();
    fatal(`database migration failed: ${(error as Error).message}`);
  }
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
