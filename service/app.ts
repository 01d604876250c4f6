/**
 * buildApp(config, deps): the payments service as a Fastify instance, with no listening
 * socket, so tests drive it with `inject()` and main.ts decides where it listens.
 */
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import { type Cache, cachePanels, createCache, registerCacheMetrics } from 'hotpath/cache';
import { instrumentDatabase, ReplicaRouter, type Database } from 'hotpath/db';
import { fastifyCompression } from 'hotpath/http';
import type { Redis } from 'ioredis';
import type { ServiceConfig, TrustProxy } from './config.js';
import type { GatewayClient } from './gateway/client.js';
import {
  clientErrorHandler,
  errorHandler,
  frameworkErrors,
  notFoundHandler,
} from './http-errors.js';
import { httpServerFactory } from './http-server.js';
import { OutageLog } from './outage-log.js';
import { dependencyPanels } from './plugins/dependency-panels.js';
import { gatewayPanels } from './plugins/gateway-panels.js';
import { gatewayHttpPanel } from './gateway/http-panel.js';
import { PaymentRepository } from './payments/repository.js';
import { PaymentService } from './payments/payment-service.js';
import { shardedStorage } from './payments/sharded-storage.js';
import { shardMetrics } from './payments/shard-metrics.js';
import { databasePanels, instrumentServiceDatabase } from './plugins/database-insights.js';
import { observability } from './plugins/observability.js';
import { protection } from './plugins/protection.js';
import { registerProfiling } from './plugins/profiling.js';
import { lazyChildLoggerFactory } from './plugins/request-logger.js';
import { Readiness, type ReadinessCheck } from './readiness.js';
import { healthRoutes } from './routes/health.js';
import { paymentRoutes } from './routes/payments.js';
import {
  readYourWrites,
  redisWritePositions,
  replicaFills,
  replicaRouterMetrics,
} from './routes/read-your-writes.js';
import { Receipts } from './receipts/receipts.js';
import { recordRoutes } from './route-table.js';
import { receiptRoutes } from './receipts/routes.js';

export type { ReadinessCheck } from './readiness.js';

export interface AppDeps {
  db: Database;
  /**
   * The gateway client; with `stats`, the dashboard and /metrics show its circuit and load; with
   * `registerMetrics`, /metrics shows its HTTP client series (`hotpath_http_client_*`).
   */
  gateway: Pick<GatewayClient, 'charge'> &
    Partial<Pick<GatewayClient, 'stats' | 'chargeBudgetMs' | 'registerMetrics'>>;
  /**
   * A streaming replica of `db` (DATABASE_REPLICA_URL): reads that may lag go there through
   * hotpath/db's ReplicaRouter, with read-your-writes per caller; readiness pings it (not
   * critical: reads fall back to the primary).
   */
  replica?: Database;
  /**
   * The databases of a sharded service (DATABASE_SHARD_URLS), in shard order, `db` first: each
   * user's payments live on one of them (docs/sharding.md). Not with `replica`.
   */
  shards?: readonly Database[];
  /** A Redis client when REDIS_URL is set: readiness pings it. */
  redis?: { ping(): Promise<unknown> };
  /** The ioredis client for the cache's L2 tier and invalidation bus (REDIS_URL). */
  cacheRedis?: Redis;
  /**
   * More readiness checks (the gateway), after the database's and Redis's. One that is not
   * `critical` only degrades readiness: 200 with `status: 'degraded'` while it fails.
   */
  checks?: readonly ReadinessCheck[];
  /** Where log lines go (a pino destination). @defaultValue stdout */
  logStream?: { write(line: string): void };
}

declare module 'fastify' {
  interface FastifyInstance {
    payments: PaymentService;
    /** The read cache (CACHE=on), or null. */
    cache: Cache | null;
    /** True once shutdown began: readiness answers 503 so load balancers stop sending. */
    draining: boolean;
  }
}

/** Fastify's `trustProxy` from TRUST_PROXY: it takes a mutable list. */
function trustProxyOption(trust: TrustProxy): boolean | string[] {
  return typeof trust === 'object' ? [...trust] : trust;
}

export async function buildApp(
  config: Pick<ServiceConfig, 'bodyLimitBytes' | 'logLevel'> &
    Partial<
      Pick<
        ServiceConfig,
        | 'nPlusOne'
        | 'nPlusOneDetector'
        | 'pagination'
        | 'slowQueryMs'
        | 'cache'
        | 'compression'
        | 'compressionMinBytes'
        | 'profiling'
        | 'requestTimeoutMs'
        | 'metricsToken'
        | 'dashboardMaxStreams'
        | 'shedding'
        | 'shedDelayMs'
        | 'rateLimitPerSecond'
        | 'rateLimitBurst'
        | 'receipts'
        | 'receiptKey'
        | 'instanceId'
        | 'trustProxy'
      >
    >,
  deps: AppDeps,
): Promise<FastifyInstance> {
  const requestTimeoutMs = config.requestTimeoutMs ?? 30_000;
  let closing = false;
  const app = Fastify({
    logger: {
      level: config.logLevel,
      ...(deps.logStream === undefined ? {} : { stream: deps.logStream }),
    },
    // Per-request log lines cost more than the requests of a cached route; errors still log.
    logController: new LogController({ disableRequestLogging: true }),
    // A request's pino child (its reqId bound) is made only when the request logs.
    childLoggerFactory: lazyChildLoggerFactory,
    bodyLimit: config.bodyLimitBytes,
    // TRUST_PROXY: request.ip (the rate limit's key) is the client named by a trusted balancer's
    // X-Forwarded-For; the loopback-only endpoints check the socket and ignore it.
    trustProxy: trustProxyOption(config.trustProxy ?? false),
    serverFactory: httpServerFactory({
      requestTimeoutMs,
      isClosing: (): boolean => closing || app.draining,
    }),
    clientErrorHandler: clientErrorHandler(requestTimeoutMs),
    frameworkErrors,
    return503OnClosing: true,
    ajv: {
      // Reject what the schema does not allow instead of silently dropping or coercing it.
      customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false },
    },
  });
  // Only JSON bodies: anything else is 415, not a body that fails validation as a string.
  app.removeContentTypeParser('text/plain');
  // Before any route: the start-up banner lists what this records.
  recordRoutes(app);

  const insights = instrumentServiceDatabase(deps.db, {
    slowQueryMs: config.slowQueryMs ?? 200,
    log: (entry, message) => app.log.warn(entry, message),
    nPlusOneDetector: config.nPlusOneDetector ?? 'on',
  });
  const cache =
    (config.cache ?? 'on') === 'on'
      ? createCache({
          namespace: 'hotpath:payments',
          l1: { max: 100_000, maxBytes: 64 * 1024 * 1024 },
          ...(deps.cacheRedis === undefined ? {} : { l2: deps.cacheRedis }),
        })
      : undefined;
  const router =
    deps.replica === undefined
      ? undefined
      : new ReplicaRouter({
          primary: insights.db,
          replica: instrumentDatabase(deps.replica, { nPlusOne: insights.nPlusOne }),
          // With Redis, a write through one instance is read on the primary by all of them.
          ...(deps.cacheRedis === undefined
            ? {}
            : { positions: redisWritePositions(deps.cacheRedis) }),
        });
  if (deps.shards !== undefined && (deps.shards[0] !== deps.db || router !== undefined))
    throw new Error('shards: the first shard must be db, and shards take no replica');
  const sharded =
    deps.shards === undefined
      ? undefined
      : shardedStorage(app, deps.shards, insights, {
          slowQueryMs: config.slowQueryMs ?? 200,
          log: (entry, message) => app.log.warn(entry, message),
        });
  const payments = new PaymentService({
    ...(sharded !== undefined
      ? { shards: sharded.shards }
      : {
          repository:
            router === undefined
              ? new PaymentRepository(insights.db)
              : new PaymentRepository(router.writer, router.reader),
        }),
    gateway: deps.gateway,
    // The reconciler keeps off a new payment for as long as its own request may still charge it.
    ...(deps.gateway.chargeBudgetMs === undefined
      ? {}
      : { chargeHoldMs: deps.gateway.chargeBudgetMs + 5000 }),
    onStoreError: (error, payment) =>
      app.log.warn(
        { payment: payment.id, err: (error as Error).message },
        'charge outcome not stored: the payment stays pending for the reconciler',
      ),
    // With a replica, fills read it when it has replayed the owner's last write.
    ...(cache === undefined
      ? {}
      : { cache: router === undefined ? cache : replicaFills(cache, router) }),
  });
  app.decorate('payments', payments);
  app.decorate('cache', cache ?? null);
  app.decorate('draining', false);
  if ((config.compression ?? 'on') === 'on') {
    // The only onSend hook: it sees each payload as the route or error handler left it. The
    // dashboard's assets are Buffers read once at start: compressed once, then reused.
    await app.register(fastifyCompression, {
      minBytes: config.compressionMinBytes ?? 1024,
      immutableBuffers: true,
    });
  }
  // Before any route: shedding reads each route's priority as it is declared. Both are off
  // unless the config asks (main.ts passes the service's defaults: on).
  await protection(app, {
    ...(config.shedding === 'on' ? { shedDelayMs: config.shedDelayMs ?? 100 } : {}),
    rateLimitPerSecond: config.rateLimitPerSecond ?? 0,
    ...(config.rateLimitBurst === undefined ? {} : { rateLimitBurst: config.rateLimitBurst }),
    ...(deps.cacheRedis === undefined ? {} : { redis: deps.cacheRedis }),
  });
  await observability(app, {
    ...(config.metricsToken === undefined ? {} : { token: config.metricsToken }),
    maxStreams: config.dashboardMaxStreams ?? 16,
    ...(config.instanceId === undefined ? {} : { instance: config.instanceId }),
  });
  await registerProfiling(app, config);
  databasePanels(app, insights, deps.db, { perDatabase: sharded === undefined });
  if (sharded !== undefined) shardMetrics(app, sharded.metrics);
  if (router !== undefined) {
    readYourWrites(app, router);
    replicaRouterMetrics(app, router);
    app.addHook('onClose', () => router.close());
  }
  const gateway = deps.gateway;
  if (gateway.stats !== undefined) gatewayPanels(app, () => gateway.stats!);
  if (gateway.registerMetrics !== undefined) {
    gateway.registerMetrics(app.observability.registry);
    gatewayHttpPanel(app);
  }
  if (cache !== undefined) {
    registerCacheMetrics(cache, app.observability.registry, { name: 'payments' });
    for (const panel of cachePanels(cache, { name: 'payments' })) {
      app.observability.dashboard.addPanel(panel);
    }
    app.addHook('onClose', () => cache.close());
  }

  // Set at once when close() begins: requests after that get a JSON 503 from the server.
  app.addHook('preClose', async () => {
    closing = true;
  });

  // While the database is down every request fails the same way: one line per 10 s.
  const outage = new OutageLog({
    write: ({ reason, code, suppressed }) =>
      app.log.error(
        { reason, code, suppressed },
        `database unavailable: answering 503 DATABASE_UNAVAILABLE (${suppressed} more failures since the last line)`,
      ),
  });
  app.setErrorHandler(errorHandler({ onDatabaseUnavailable: (error) => outage.report(error) }));
  app.setNotFoundHandler(notFoundHandler(app));

  const checks: ReadinessCheck[] = sharded?.checks ?? [
    { name: 'database', critical: true, check: () => deps.db.ping(1000) },
  ];
  const redis = deps.redis;
  if (redis !== undefined) {
    // Requests are served without Redis: it degrades readiness, it does not fail it.
    checks.push({ name: 'redis', critical: false, check: async () => void (await redis.ping()) });
  }
  const replica = deps.replica;
  if (replica !== undefined) {
    checks.push({ name: 'replica', critical: false, check: () => replica.ping(1000) });
  }
  checks.push(...(deps.checks ?? []));
  // "timed out after 1000 ms" names a dependency that hangs.
  const readiness = new Readiness(checks, { timeoutMs: 1000 });
  dependencyPanels(app, readiness);
  // Listening (not under inject()): keep the gauge and the dashboard fresh between probes.
  app.addHook('onListen', async () => {
    readiness.poll(5000);
  });
  app.addHook('onClose', async () => {
    readiness.close();
  });
  healthRoutes(app, readiness, () => app.draining);
  paymentRoutes(app, payments, config.nPlusOne ?? 'batched', config.pagination ?? 'keyset');
  const receipts = new Receipts({
    mode: config.receipts ?? 'pool',
    privateKeyPem: config.receiptKey,
    registry: app.observability.registry,
  });
  app.addHook('onClose', () => receipts.close());
  receiptRoutes(app, payments, receipts);
  return app;
}
