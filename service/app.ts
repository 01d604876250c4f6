/**
 * buildApp(options, deps): the payments service as a Fastify instance, with no listening
 * socket, so tests drive it with `inject()` and main.ts decides where it listens. `options` are
 * settings only, each required (main.ts maps them from the parsed config with
 * {@link appOptions}: the config parser is the one place with defaults); `deps` are what the
 * composition root built (databases, gateway client, Redis, observability, cache, receipts).
 * Every plugin and route below gets what it uses as an argument.
 */
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import { type Cache, cachePanels, createCache, registerCacheMetrics } from 'hotpath/cache';
import { instrumentDatabase, ReplicaRouter, type Database } from 'hotpath/db';
import { fastifyCompression } from 'hotpath/http';
import type { MetricsRegistry } from 'hotpath/metrics';
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
import { observability, type Observability } from './plugins/observability.js';
import { protection, type ProtectionOptions } from './plugins/protection.js';
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

/** The settings of {@link buildApp}, each required; {@link appOptions} maps them from the config. */
export interface AppOptions {
  logLevel: ServiceConfig['logLevel'];
  bodyLimitBytes: number;
  /** Longest time to receive a whole request; slower clients get 408. */
  requestTimeoutMs: number;
  /** The balancers whose X-Forwarded-For names the client (`request.ip`); false = none. */
  trustProxy: TrustProxy;
  /** Queries at least this slow are logged with their plan. */
  slowQueryMs: number;
  /** Each request runs in an N+1 detection scope. */
  detectNPlusOne: boolean;
  /** Responses at least this long are compressed, and GETs get ETags; undefined = neither. */
  compressionMinBytes: number | undefined;
  /** Load shedding and the per-client rate limit. */
  protection: ProtectionOptions;
  /** /metrics and /dashboard to non-loopback clients with this bearer token; undefined = loopback only. */
  metricsToken: string | undefined;
  /** Dashboard event streams open at once. */
  dashboardMaxStreams: number;
  /** The /debug/pprof endpoints. */
  profiling: boolean;
  /** GET /api/users/latest-payments: one query or one per user. */
  nPlusOne: 'batched' | 'naive';
  /** A user's payment pages: keyset cursors or OFFSET. */
  pagination: 'keyset' | 'offset';
}

/** The app's settings from the parsed config: no default here, loadConfig has them all. */
export function appOptions(config: ServiceConfig): AppOptions {
  return {
    logLevel: config.logLevel,
    bodyLimitBytes: config.bodyLimitBytes,
    requestTimeoutMs: config.requestTimeoutMs,
    trustProxy: config.trustProxy,
    slowQueryMs: config.slowQueryMs,
    detectNPlusOne: config.nPlusOneDetector === 'on',
    compressionMinBytes: config.compression === 'on' ? config.compressionMinBytes : undefined,
    protection: {
      shedDelayMs: config.shedding === 'on' ? config.shedDelayMs : undefined,
      rateLimitPerSecond: config.rateLimitPerSecond,
      rateLimitBurst: config.rateLimitBurst,
    },
    metricsToken: config.metricsToken,
    dashboardMaxStreams: config.dashboardMaxStreams,
    profiling: config.profiling === 'on',
    nPlusOne: config.nPlusOne,
    pagination: config.pagination,
  };
}

/** The receipt signer (RECEIPTS, RECEIPT_KEY), its pool's series in `registry`. */
export function createReceipts(config: ServiceConfig, registry: MetricsRegistry): Receipts {
  return new Receipts({ mode: config.receipts, privateKeyPem: config.receiptKey, registry });
}

/** The read cache of payments and user summaries (CACHE=on), with Redis as L2 when given. */
export function createPaymentsCache(redis: Redis | undefined): Cache {
  return createCache({
    namespace: 'hotpath:payments',
    l1: { max: 100_000, maxBytes: 64 * 1024 * 1024 },
    ...(redis === undefined ? {} : { l2: redis }),
  });
}

/** What the composition root built for the app. */
export interface AppDeps {
  db: Database;
  /**
   * The gateway client; with `stats`, the dashboard and /metrics show its circuit and load; with
   * `registerMetrics`, /metrics shows its HTTP client series (`hotpath_http_client_*`).
   */
  gateway: Pick<GatewayClient, 'charge'> &
    Partial<Pick<GatewayClient, 'stats' | 'chargeBudgetMs' | 'registerMetrics'>>;
  /** The metrics and dashboard every part reports to ({@link createObservability}); closed with the app. */
  observability: Observability;
  /** The read cache (CACHE=on, {@link createPaymentsCache}), or undefined; closed with the app. */
  cache: Cache | undefined;
  /** Signs GET /api/payments/:id/receipt ({@link createReceipts}); closed with the app. */
  receipts: Receipts;
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
  /** The ioredis client for the rate limit and the replica's write positions (REDIS_URL). */
  cacheRedis?: Redis;
  /**
   * More readiness checks (the gateway), after the database's and Redis's. One that is not
   * `critical` only degrades readiness: 200 with `status: 'degraded'` while it fails.
   */
  checks?: readonly ReadinessCheck[];
  /** Where log lines go (a pino destination). @defaultValue stdout */
  logStream?: { write(line: string): void };
}

/** The app and the parts the composition root hands on (the reconciler takes `payments`). */
export interface ServiceApp {
  app: FastifyInstance;
  payments: PaymentService;
}

declare module 'fastify' {
  interface FastifyInstance {
    /**
     * True once shutdown began: readiness answers 503 so load balancers stop sending, and the
     * server answers new requests on kept-alive sockets 503. Request-time state, set by the
     * shutdown of main.ts while requests run, hence on the instance.
     */
    draining: boolean;
  }
}

/**
 * Builds the service from `options` and `deps`, as the composition root (main.ts) made them,
 * and returns the app and its payment service. The payment service, its database
 * instrumentation and readiness are made here rather than by the caller: they log through the
 * app's logger and close with the app (a sharded storage hooks the app itself).
 */
export async function buildApp(options: AppOptions, deps: AppDeps): Promise<ServiceApp> {
  const requestTimeoutMs = options.requestTimeoutMs;
  let closing = false;
  const app = Fastify({
    logger: {
      level: options.logLevel,
      ...(deps.logStream === undefined ? {} : { stream: deps.logStream }),
    },
    // Per-request log lines cost more than the requests of a cached route; errors still log.
    logController: new LogController({ disableRequestLogging: true }),
    // A request's pino child (its reqId bound) is made only when the request logs.
    childLoggerFactory: lazyChildLoggerFactory,
    bodyLimit: options.bodyLimitBytes,
    // TRUST_PROXY: request.ip (the rate limit's key) is the client named by a trusted balancer's
    // X-Forwarded-For; the loopback-only endpoints check the socket and ignore it.
    trustProxy: trustProxyOption(options.trustProxy),
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

  const { observability: parts, cache } = deps;
  const { registry, dashboard } = parts;
  const insights = instrumentServiceDatabase(deps.db, {
    slowQueryMs: options.slowQueryMs,
    log: (entry, message) => app.log.warn(entry, message),
    detectNPlusOne: options.detectNPlusOne,
  });
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
          slowQueryMs: options.slowQueryMs,
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
  app.decorate('draining', false);
  if (options.compressionMinBytes !== undefined) {
    // The only onSend hook: it sees each payload as the route or error handler left it. The
    // dashboard's assets are Buffers read once at start: compressed once, then reused.
    await app.register(fastifyCompression, {
      minBytes: options.compressionMinBytes,
      immutableBuffers: true,
    });
  }
  // Before any route: shedding reads each route's priority as it is declared.
  await protection(app, options.protection, {
    observability: parts,
    redis: deps.cacheRedis,
  });
  await observability(app, parts, {
    token: options.metricsToken,
    maxStreams: options.dashboardMaxStreams,
  });
  if (options.profiling) await registerProfiling(app, dashboard);
  databasePanels(app, insights, deps.db, {
    perDatabase: sharded === undefined,
    observability: parts,
  });
  if (sharded !== undefined) shardMetrics(parts, sharded.metrics);
  if (router !== undefined) {
    readYourWrites(app, router);
    replicaRouterMetrics(registry, router);
    app.addHook('onClose', () => router.close());
  }
  const gateway = deps.gateway;
  if (gateway.stats !== undefined) gatewayPanels(parts, () => gateway.stats!);
  if (gateway.registerMetrics !== undefined) {
    gateway.registerMetrics(registry);
    gatewayHttpPanel(parts);
  }
  if (cache !== undefined) {
    registerCacheMetrics(cache, registry, { name: 'payments' });
    for (const panel of cachePanels(cache, { name: 'payments' })) dashboard.addPanel(panel);
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
  dependencyPanels(parts, readiness);
  // Listening (not under inject()): keep the gauge and the dashboard fresh between probes.
  app.addHook('onListen', async () => {
    readiness.poll(5000);
  });
  app.addHook('onClose', async () => {
    readiness.close();
  });
  healthRoutes(app, readiness, () => app.draining);
  paymentRoutes(app, { payments, latestMode: options.nPlusOne, pagination: options.pagination });
  const receipts = deps.receipts;
  app.addHook('onClose', () => receipts.close());
  receiptRoutes(app, payments, receipts);
  return { app, payments };
}

/** Fastify's `trustProxy` from TRUST_PROXY: it takes a mutable list. */
function trustProxyOption(trust: TrustProxy): boolean | string[] {
  return typeof trust === 'object' ? [...trust] : trust;
}
