/**
 * buildApp(config, deps): the payments service as a Fastify instance, with no listening
 * socket, so tests drive it with `inject()` and main.ts decides where it listens.
 */
import Fastify, { LogController, type FastifyError, type FastifyInstance } from 'fastify';
import { type Cache, cachePanels, createCache, registerCacheMetrics } from 'hotpath/cache';
import type { Database } from 'hotpath/db';
import { withTimeout } from 'hotpath/resilience';
import type { Redis } from 'ioredis';
import type { ServiceConfig } from './config.js';
import { ApiError, fastifyCodes, statusByCode } from './errors.js';
import type { GatewayClient } from './gateway/client.js';
import { gatewayPanels } from './plugins/gateway-panels.js';
import { PaymentRepository } from './payments/repository.js';
import { PaymentService } from './payments/payment-service.js';
import { databasePanels, instrumentServiceDatabase } from './plugins/database-insights.js';
import { observability } from './plugins/observability.js';
import { registerProfiling } from './plugins/profiling.js';
import { healthRoutes, type ReadinessCheck } from './routes/health.js';
import { paymentRoutes } from './routes/payments.js';

export interface AppDeps {
  db: Database;
  /** The gateway client; with `stats`, the dashboard and /metrics show its circuit and load. */
  gateway: Pick<GatewayClient, 'charge'> & Partial<Pick<GatewayClient, 'stats' | 'chargeBudgetMs'>>;
  /** A Redis client when REDIS_URL is set: readiness pings it. */
  redis?: { ping(): Promise<unknown> };
  /** The ioredis client for the cache's L2 tier and invalidation bus (REDIS_URL). */
  cacheRedis?: Redis;
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

export async function buildApp(
  config: Pick<ServiceConfig, 'bodyLimitBytes' | 'logLevel'> &
    Partial<Pick<ServiceConfig, 'nPlusOne' | 'slowQueryMs' | 'cache'>>,
  deps: AppDeps,
): Promise<FastifyInstance> {
  const app = Fastify({
    logger: { level: config.logLevel },
    // Per-request log lines cost more than the requests of a cached route; errors still log.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: config.bodyLimitBytes,
    return503OnClosing: true,
    ajv: {
      // Reject what the schema does not allow instead of silently dropping or coercing it.
      customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false },
    },
  });
  // Only JSON bodies: anything else is 415, not a body that fails validation as a string.
  app.removeContentTypeParser('text/plain');

  const insights = instrumentServiceDatabase(deps.db, {
    slowQueryMs: config.slowQueryMs ?? 200,
    log: (entry, message) => app.log.warn(entry, message),
  });
  const cache =
    (config.cache ?? 'on') === 'on'
      ? createCache({
          namespace: 'hotpath:payments',
          l1: { max: 100_000, maxBytes: 64 * 1024 * 1024 },
          ...(deps.cacheRedis === undefined ? {} : { l2: deps.cacheRedis }),
        })
      : undefined;
  const payments = new PaymentService({
    repository: new PaymentRepository(insights.db),
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
    ...(cache === undefined ? {} : { cache }),
  });
  app.decorate('payments', payments);
  app.decorate('cache', cache ?? null);
  app.decorate('draining', false);
  await observability(app);
  await registerProfiling(app, config);
  databasePanels(app, insights, deps.db);
  const gateway = deps.gateway;
  if (gateway.stats !== undefined) gatewayPanels(app, () => gateway.stats!);
  if (cache !== undefined) {
    registerCacheMetrics(cache, app.observability.registry, { name: 'payments' });
    for (const panel of cachePanels(cache, { name: 'payments' })) {
      app.observability.dashboard.addPanel(panel);
    }
    app.addHook('onClose', () => cache.close());
  }

  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (error instanceof ApiError) {
      return reply.code(error.statusCode).send({ code: error.code, message: error.message });
    }
    if (error.validation !== undefined) {
      return reply.code(400).send({ code: 'VALIDATION_FAILED', message: error.message });
    }
    const mapped = error.code === undefined ? undefined : fastifyCodes[error.code];
    if (mapped !== undefined) {
      const message =
        mapped === 'UNSUPPORTED_MEDIA_TYPE'
          ? 'Content-Type must be application/json'
          : error.message;
      return reply.code(statusByCode[mapped]).send({ code: mapped, message });
    }
    request.log.error({ err: error }, 'unhandled error');
    return reply.code(500).send({ code: 'INTERNAL', message: 'internal error' });
  });

  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({
      code: 'NOT_FOUND',
      message: `no route ${request.method} ${request.url.split('?')[0]}`,
    }),
  );

  const checks: ReadinessCheck[] = [{ name: 'database', check: () => deps.db.ping(1000) }];
  const redis = deps.redis;
  if (redis !== undefined) {
    checks.push({
      name: 'redis',
      // "timed out after 1000 ms" names the failure in the 503's message.
      check: async () => void (await withTimeout(() => redis.ping(), 1000)),
    });
  }
  healthRoutes(app, checks, () => app.draining);
  paymentRoutes(app, payments, config.nPlusOne ?? 'batched');
  return app;
}
