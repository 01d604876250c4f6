import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Cache } from 'hotpath/cache';
import type { ReplicaRouter, WritePositionStore } from 'hotpath/db';
import type { MetricsRegistry } from 'hotpath/metrics';
import type { Redis } from 'ioredis';

/**
 * Names the callers of every request for hotpath/db's ReplicaRouter, so a caller that just
 * wrote reads from the primary until the replica has replayed its write: the client
 * (`X-Client-Id`) and the user the request is about (`/api/users/:id/...`, or `user_id` of a
 * created payment). Each route's handler runs inside the router's context: a wrapper set when
 * the route is declared, not a request hook (see plugins/database-insights.ts for why). With
 * Redis, the positions are shared by every instance ({@link redisWritePositions}).
 */
export function readYourWrites(app: FastifyInstance, router: ReplicaRouter): void {
  app.addHook('onRoute', (route) => {
    const handler = route.handler;
    const aboutUser = route.url.startsWith('/api/users/:id');
    route.handler = function routed(this: FastifyInstance, request, reply) {
      return router.runAs(callersOf(request, aboutUser), () => handler.call(this, request, reply));
    };
  });
}

function callersOf(request: FastifyRequest, aboutUser: boolean): string[] {
  const callers: string[] = [];
  const client = request.headers['x-client-id'];
  if (typeof client === 'string' && client !== '') callers.push(`client:${client}`);
  if (aboutUser) {
    const id = (request.params as { id?: unknown }).id;
    if (typeof id === 'string') callers.push(`user:${id}`);
  }
  const userId = (request.body as { user_id?: unknown } | undefined)?.user_id;
  if (typeof userId === 'number') callers.push(`user:${userId}`);
  return callers;
}

// Keeps the highest position per caller: a slower instance recording an older write must not
// lower it. Positions are 16 hex digits, so string order is numeric order.
const SET_MAX = `
for _, key in ipairs(KEYS) do
  local current = redis.call('GET', key)
  if (not current) or current < ARGV[1] then
    redis.call('SET', key, ARGV[1], 'PX', ARGV[2])
  else
    redis.call('PEXPIRE', key, ARGV[2])
  end
end
return 0`;

/**
 * Callers' write positions in Redis, shared by every instance of the service: a read on one
 * instance after a write through another is sent to the primary until the replica replayed it.
 */
export function redisWritePositions(redis: Redis): WritePositionStore {
  const key = (caller: string) => `hotpath:payments:ryw:${caller}`;
  return {
    async set(callers, lsn, ttlMs) {
      const hex = lsn.toString(16).padStart(16, '0');
      await redis.eval(SET_MAX, callers.length, ...callers.map(key), hex, String(ttlMs));
    },
    async get(callers) {
      const values = await redis.mget(...callers.map(key));
      let max: string | null = null;
      for (const v of values) if (v !== null && (max === null || v > max)) max = v;
      return max === null ? null : BigInt(`0x${max}`);
    },
  };
}

/** The router's counters on /metrics, read at each scrape (nothing on the request path). */
export function replicaRouterMetrics(registry: MetricsRegistry, router: ReplicaRouter): void {
  const counted = (name: string, help: string, read: () => number) => {
    let seen = 0;
    const counter = registry.counter({
      name,
      help,
      collect: () => {
        const value = read();
        counter.inc(value - seen);
        seen = value;
      },
    });
  };
  counted(
    'payments_db_replica_reads_total',
    'Reads served by the read replica',
    () => router.stats.replicaReads,
  );
  counted(
    'payments_db_replica_primary_reads_total',
    "Reads that may lag sent to the primary: a caller's write not replayed yet, or the replica unavailable",
    () => router.stats.primaryReads,
  );
  counted(
    'payments_db_replica_fills_total',
    "Cache fills whose value the read replica served (the owner's last write replayed)",
    () => router.stats.replicaFills,
  );
  counted(
    'payments_db_replica_primary_fills_total',
    "Cache fills the primary served: the owner's last write not replayed yet, or the replica unavailable",
    () => router.stats.primaryFills,
  );
  counted(
    'payments_db_replica_fallbacks_total',
    'Reads sent to the primary because the replica was slower than its timeout or unreachable',
    () => router.stats.fallbacks,
  );
  const available = registry.gauge({
    name: 'payments_db_replica_available',
    help: '1 while the replica answers its replay-position poll, else 0',
    collect: () => available.set(router.stats.replicaAvailable ? 1 : 0),
  });
  const waiting = registry.gauge({
    name: 'payments_db_replica_callers_waiting',
    help: 'Callers (users, clients) whose last write the replica has not replayed yet, in this process',
    collect: () => waiting.set(router.stats.pendingCallers),
  });
}

/**
 * The cache with its fills on the replica where that is safe: each `getOrSet` factory (a
 * payment by id, a user's summary) runs through hotpath/db's `ReplicaRouter.fill`, so its
 * reads go to the replica and its value is kept only when the replica had already replayed the
 * owner's last write (`user:<user_id>` of the value, every write of a payment or a summary runs
 * as that user) and every write made with no caller (the reconciler's). Otherwise the fill
 * reads the primary: a fill never caches a state older than the write whose invalidation made
 * it necessary. Every other method is the cache's own.
 */
export function replicaFills(cache: Cache, router: ReplicaRouter): Cache {
  const getOrSet: Cache['getOrSet'] = (key, factory, options) =>
    cache.getOrSet(key, (context) => router.fill(async () => factory(context), ownersOf), options);
  return new Proxy(cache, {
    get(target, property) {
      if (property === 'getOrSet') return getOrSet;
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

/** The caller whose writes change a cached payment or summary; null when there is no row. */
function ownersOf(value: unknown): string[] | null {
  const userId = (value as { user_id?: unknown } | null | undefined)?.user_id;
  return typeof userId === 'number' ? [`user:${userId}`] : null;
}
