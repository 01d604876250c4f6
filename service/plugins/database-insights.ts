/**
 * What the database does for each request, from hotpath/db: every query of the service goes
 * through an instrumented Database (per-fingerprint stats, slow-query log with EXPLAIN, N+1
 * detection scoped to the request's route), shown on the dashboard (top queries; pool state
 * on a PostgreSQL server) and as Prometheus metrics.
 */
import type { FastifyInstance } from 'fastify';
import type { Observability } from './observability.js';
import {
  NPlusOneDetector,
  PostgresDatabase,
  SlowQueryLog,
  instrumentDatabase,
  type Database,
  type InstrumentedDatabase,
} from 'hotpath/db';

export interface DatabaseInsights {
  db: InstrumentedDatabase;
  nPlusOne: NPlusOneDetector;
  /** False when N+1 detection is off: requests then run in no detection scope. */
  detectsNPlusOne: boolean;
  slowQueries: SlowQueryLog;
  /** N+1 patterns reported so far (once per query shape per request). */
  nPlusOneReports: () => number;
}

/** Wraps `raw` with stats, the slow-query log and N+1 detection. */
export function instrumentServiceDatabase(
  raw: Database,
  options: {
    slowQueryMs: number;
    log: (entry: object, message: string) => void;
    /** Per-request N+1 detection (N_PLUS_ONE_DETECTOR); false = the detector is off. */
    detectNPlusOne: boolean;
  },
): DatabaseInsights {
  let reports = 0;
  const detectsNPlusOne = options.detectNPlusOne;
  const nPlusOne = new NPlusOneDetector({
    threshold: 5,
    mode: detectsNPlusOne ? 'warn' : 'off',
    onDetect: (report) => {
      reports++;
      options.log(report, 'N+1 query pattern');
    },
  });
  const slowQueries = new SlowQueryLog({
    pool: raw,
    thresholdMs: options.slowQueryMs,
    onSlowQuery: (entry) => options.log(entry, 'slow query'),
  });
  return {
    db: instrumentDatabase(raw, { nPlusOne, slowQueries }),
    nPlusOne,
    detectsNPlusOne,
    slowQueries,
    nPlusOneReports: () => reports,
  };
}

/**
 * Scopes N+1 detection to each request and adds the database panels and metrics. With
 * `perDatabase: false` (a sharded service) the top queries, query counter and pool series are
 * left to the caller, which labels them by shard (service/payments/shard-metrics.ts).
 */
export function databasePanels(
  app: FastifyInstance,
  insights: DatabaseInsights,
  raw: Database,
  options: { perDatabase: boolean; observability: Pick<Observability, 'dashboard' | 'registry'> },
): void {
  // Each route's handler runs inside the detector's scope. A wrapper set when the route is
  // declared, not an `onRequest` hook: a request hook of any kind costs Fastify a few
  // microseconds per request (docs/metrics.md), the scope alone a fraction of one.
  // Off (N_PLUS_ONE_DETECTOR=off, or auto in production): no scope at all. On Node 20 one
  // AsyncLocalStorage run() turns on promise hooks for the whole process (docs/overhead.md).
  if (insights.detectsNPlusOne)
    app.addHook('onRoute', (route) => {
      const handler = route.handler;
      const methods = Array.isArray(route.method) ? route.method : [route.method];
      const labels = new Map(methods.map((method) => [method, `${method} ${route.url}`]));
      route.handler = function scoped(this: FastifyInstance, request, reply) {
        const label = labels.get(request.method) ?? `${request.method} ${route.url}`;
        return insights.nPlusOne.run(label, () => handler.call(this, request, reply));
      };
    });

  const { dashboard, registry } = options.observability;
  // Read when a scrape collects them: no per-request hook for metrics.
  let counted = 0;
  const nPlusOneTotal = registry.counter({
    name: 'payments_db_n_plus_one_total',
    help: 'N+1 query patterns detected (once per query shape per request)',
    collect: () => {
      const now = insights.nPlusOneReports();
      nPlusOneTotal.inc(now - counted);
      counted = now;
    },
  });
  app.addHook('onClose', async () => {
    await insights.slowQueries.close();
  });
  if (options.perDatabase === false) return;

  dashboard.addPanel({
    id: 'db-top-queries',
    title: 'Top queries by total time',
    kind: 'status',
    sample: () =>
      (insights.db.stats?.top(6) ?? []).map((q) => ({
        label: q.query.length > 90 ? `${q.query.slice(0, 87)}...` : q.query,
        ok: q.errors === 0 && q.p99Ms < 200,
        detail: `${q.calls} calls, mean ${q.meanMs.toFixed(2)} ms, p99 ${q.p99Ms.toFixed(1)} ms, ${q.errors} errors`,
      })),
  });

  // Calls summed over every query fingerprint: with the request counters, queries per request.
  let queried = 0;
  const queriesTotal = registry.counter({
    name: 'payments_db_queries_total',
    help: 'Database queries run by the service (every statement, errors included)',
    collect: () => {
      let now = 0;
      for (const entry of insights.db.stats?.entries() ?? []) now += entry.calls;
      if (now > queried) queriesTotal.inc(now - queried);
      queried = now;
    },
  });

  if (raw instanceof PostgresDatabase) {
    const pool = raw.pool;
    dashboard.addPanel({
      id: 'db-pool',
      title: 'Database pool',
      unit: 'connections',
      series: [{ label: 'in use' }, { label: 'idle' }, { label: 'waiting' }],
      sample: () => [pool.totalCount - pool.idleCount, pool.idleCount, pool.waitingCount],
    });
    const inUse = registry.gauge({
      name: 'payments_db_pool_in_use',
      help: 'Pool connections in use',
      collect: () => inUse.set(pool.totalCount - pool.idleCount),
    });
    const idle = registry.gauge({
      name: 'payments_db_pool_idle',
      help: 'Pool connections idle',
      collect: () => idle.set(pool.idleCount),
    });
    const waiting = registry.gauge({
      name: 'payments_db_pool_waiting',
      help: 'Callers waiting for a connection',
      collect: () => waiting.set(pool.waitingCount),
    });
  }
}
