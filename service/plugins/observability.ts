/**
 * Metrics, runtime monitoring and the live dashboard of the payments service, all from
 * hotpath/metrics: request instrumentation on every route, GET /metrics (Prometheus),
 * /dashboard (live charts over Server-Sent Events), SLO rules and the heap leak detector
 * logged through the app's logger. Other parts of the service add dashboard panels through
 * `app.observability.dashboard.addPanel(...)`.
 */
import type { FastifyInstance } from 'fastify';
import {
  Dashboard,
  fastifyDashboard,
  fastifyMetrics,
  LeakDetector,
  MetricsRegistry,
  RequestMetrics,
  RuntimeMetrics,
  SloMonitor,
} from 'hotpath/metrics';

/** What the service's other parts can reach. */
export interface Observability {
  registry: MetricsRegistry;
  requests: RequestMetrics;
  runtime: RuntimeMetrics;
  slo: SloMonitor;
  dashboard: Dashboard;
}

declare module 'fastify' {
  interface FastifyInstance {
    observability: Observability;
  }
}

/** SLOs of the payments API. */
const SLO_RULES = ['p99 < 200ms over 1m', 'error_rate < 1% over 1m'];

/**
 * Registers the observability stack on the root instance (call it before declaring routes so
 * its hooks see all of them).
 */
export async function observability(app: FastifyInstance): Promise<void> {
  const registry = new MetricsRegistry();
  const requests = new RequestMetrics({ registry, slowMs: 500 });
  const runtime = new RuntimeMetrics({ registry });
  const slo = new SloMonitor({ requests, rules: SLO_RULES, minRequests: 20 });
  slo.on('breach', (e) =>
    app.log.warn(
      { rule: e.rule.expression, value: e.value, threshold: e.threshold },
      'SLO breached',
    ),
  );
  slo.on('recovery', (e) =>
    app.log.info({ rule: e.rule.expression, value: e.value }, 'SLO recovered'),
  );
  const leaks = new LeakDetector({ registry });
  leaks.on('leak', (e) =>
    app.log.error(
      { mbPerMinute: e.slopeMbPerMinute, r2: e.r2, samples: e.samples.length, spanMs: e.spanMs },
      'heap keeps growing after GC',
    ),
  );
  const dashboard = new Dashboard({ requests, runtime, slo, title: 'hotpath payments' });
  app.decorate('observability', { registry, requests, runtime, slo, dashboard });
  await app.register(fastifyMetrics, { requests, registry });
  await app.register(fastifyDashboard, { dashboard });
  app.addHook('onClose', async () => {
    await Promise.all([
      dashboard.close(),
      slo.close(),
      leaks.close(),
      runtime.close(),
      requests.close(),
    ]);
  });
}
