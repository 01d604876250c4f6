/**
 * How the service protects itself, from hotpath/resilience: load shedding by route priority
 * while the event loop is overloaded (503 OVERLOADED before any work), and a per-client rate
 * limit on creating payments (429 RATE_LIMITED with Retry-After and the RateLimit fields),
 * decided on Redis when the service has one (the same limit across instances) and in process
 * otherwise. Both show on the dashboard and on /metrics.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import {
  fastifyLoadShedder,
  fastifyRateLimit,
  LoadShedder,
  EventLoopSampler,
  LocalRateLimiter,
  RedisRateLimiter,
  registerRateLimitMetrics,
  SHED_PRIORITIES,
  type LoopSample,
  type LoopSampler,
  type RateLimiter,
} from 'hotpath/resilience';
import type { Redis } from 'ioredis';

export interface ProtectionOptions {
  /** Event-loop stall that starts shedding; undefined = no shedding. */
  shedDelayMs?: number;
  /** Payments per second per client; 0 or undefined = no limit. */
  rateLimitPerSecond?: number;
  rateLimitBurst?: number;
  /** Decide the rate limit on Redis (shared by every instance). */
  redis?: Redis;
}

const CLIENT_ID = /^[\x21-\x7e]{1,128}$/;

/** How long after listening the shedder starts judging the event loop. */
const SHED_GRACE_MS = 2000;

/** A sampler that reports an idle loop until armed, then the loop's state from then on. */
class ArmedSampler implements LoopSampler {
  readonly #inner: LoopSampler;
  #isArmed = false;

  constructor(inner: LoopSampler) {
    this.#inner = inner;
  }

  arm(): void {
    // Drop what was measured before: the next sample covers only the time since now.
    this.#inner.sample();
    this.#isArmed = true;
  }

  sample(): LoopSample {
    if (!this.#isArmed) return { delayMs: 0, utilization: 0 };
    return this.#inner.sample();
  }

  close(): void {
    this.#inner.close();
  }
}

/** The rate limit's key: the `X-Client-Id` header when it is sane, else the address. */
function clientKey(request: FastifyRequest): string {
  const id = request.headers['x-client-id'];
  return typeof id === 'string' && CLIENT_ID.test(id) ? `id:${id}` : `ip:${request.ip}`;
}

/**
 * Registers shedding (before the routes, so it sees each route's `config.priority`; routes
 * without one, the dashboard's included, are `low`) and the payments rate limit. Call it
 * before any route is declared.
 */
export async function protection(app: FastifyInstance, options: ProtectionOptions): Promise<void> {
  if (options.shedDelayMs !== undefined) {
    const sampler = new ArmedSampler(new EventLoopSampler({ intervalMs: 100 }));
    const shedder = new LoadShedder({
      name: 'service',
      delayThresholdMs: options.shedDelayMs,
      sampler,
    });
    // Start-up stalls (loading modules, compiling, the first queries) are not overload: the
    // shedder judges the loop from a moment after the server listens.
    app.addHook('onListen', async () => {
      setTimeout(() => sampler.arm(), SHED_GRACE_MS).unref();
    });
    await app.register(fastifyLoadShedder, {
      shedder,
      defaultPriority: 'low',
      neverShed: ['/health', '/metrics', '/debug/pprof'],
    });
    app.addHook('onClose', async () => {
      await shedder.close();
      sampler.close();
    });
    app.addHook('onReady', async () => shedPanels(app, shedder));
  }
  const perSecond = options.rateLimitPerSecond ?? 0;
  if (perSecond > 0) {
    const rate = { rate: perSecond, burst: options.rateLimitBurst ?? perSecond };
    const limiter: RateLimiter =
      options.redis === undefined
        ? new LocalRateLimiter({ ...rate, name: 'payments' })
        : new RedisRateLimiter({
            ...rate,
            client: options.redis,
            prefix: 'hotpath:payments:rate:',
            // Redis away: each instance keeps the limit alone rather than letting all through.
            failPolicy: 'local',
            name: 'payments',
          });
    await app.register(fastifyRateLimit, {
      limiter,
      key: clientKey,
      // A hook on that route alone: other routes pay nothing for it (docs/overhead.md).
      routes: (route) => route.url === '/api/payments' && [route.method].flat().includes('POST'),
      policyName: 'payments',
    });
    app.addHook('onClose', () => limiter.close());
    app.addHook('onReady', async () => {
      registerRateLimitMetrics(limiter, app.observability.registry, { name: 'payments' });
      app.observability.dashboard.addPanel({
        id: 'rate-limit',
        title: 'Payments refused by the per-client rate limit',
        unit: 'requests',
        series: [{ label: 'allowed' }, { label: 'limited' }],
        sample: () => {
          const s = limiter.stats();
          return [s.allowed, s.limited];
        },
      });
    });
  }
}

function shedPanels(app: FastifyInstance, shedder: LoadShedder): void {
  const { dashboard, registry } = app.observability;
  dashboard.addPanel({
    id: 'load-shedding',
    title: 'Load shedding: share shed by priority',
    unit: '%',
    series: SHED_PRIORITIES.map((p) => ({ label: p })),
    sample: () => {
      const s = shedder.stats();
      return SHED_PRIORITIES.map((p) => s.probability[p] * 100);
    },
  });
  const shed = registry.gauge({
    name: 'payments_requests_shed',
    help: 'Requests shed (503 OVERLOADED) since start, by priority',
    labelNames: ['priority'],
    collect: () => {
      const s = shedder.stats();
      for (const p of SHED_PRIORITIES) shed.labels(p).set(s.shed[p]);
    },
  });
}
