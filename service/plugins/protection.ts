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
import type { Observability } from './observability.js';

/** What {@link protection} does: each field from one setting (main.ts maps them). */
export interface ProtectionOptions {
  /** Event-loop stall that starts shedding (SHED_DELAY_MS); undefined = no shedding (SHEDDING=off). */
  shedDelayMs: number | undefined;
  /** Payments per second per client (RATE_LIMIT_PER_SECOND); 0 = no limit. */
  rateLimitPerSecond: number;
  /** Payments a client may create at once above the rate (RATE_LIMIT_BURST). */
  rateLimitBurst: number;
}

/** What {@link protection} uses. */
export interface ProtectionDeps {
  /** Where the shedding and rate-limit panels and series go. */
  observability: Pick<Observability, 'dashboard' | 'registry'>;
  /** Decide the rate limit on Redis (shared by every instance); undefined = in process. */
  redis: Redis | undefined;
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
export async function protection(
  app: FastifyInstance,
  options: ProtectionOptions,
  deps: ProtectionDeps,
): Promise<void> {
  const { dashboard, registry } = deps.observability;
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
    app.addHook('onReady', async () => shedPanels(deps.observability, shedder));
  }
  const perSecond = options.rateLimitPerSecond;
  if (perSecond > 0) {
    const rate = { rate: perSecond, burst: options.rateLimitBurst };
    const redis = deps.redis;
    const limiter: RateLimiter =
      redis === undefined
        ? new LocalRateLimiter({ ...rate, name: 'payments' })
        : new RedisRateLimiter({
            ...rate,
            client: redis,
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
      registerRateLimitMetrics(limiter, registry, { name: 'payments' });
      dashboard.addPanel({
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

function shedPanels(
  { dashboard, registry }: Pick<Observability, 'dashboard' | 'registry'>,
  shedder: LoadShedder,
): void {
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
