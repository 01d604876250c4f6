/**
 * Metrics, runtime monitoring and the live dashboard of the payments service, all from
 * hotpath/metrics: request instrumentation on every route, GET /metrics (Prometheus),
 * /dashboard (live charts over Server-Sent Events), SLO rules and the heap leak detector
 * logged through the app's logger. The composition root (main.ts) makes the parts with
 * {@link createObservability} and hands them to whatever adds a panel or a series.
 *
 * /metrics and /dashboard answer loopback clients only, like /debug/pprof, whatever HOST the
 * service listens on; with METRICS_TOKEN set, any client sending it as a bearer token.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify';
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
import { isLoopback, tokensEqual } from 'hotpath/profile';

/** The metrics and the dashboard: what the service's other parts add panels and series to. */
export interface Observability {
  registry: MetricsRegistry;
  requests: RequestMetrics;
  runtime: RuntimeMetrics;
  slo: SloMonitor;
  leaks: LeakDetector;
  dashboard: Dashboard;
  /** Stops every sampler and closes the dashboard's streams. */
  close(): Promise<void>;
}

/** Options of {@link createObservability}. */
export interface ObservabilityParts {
  /** The `instance` label on every series of /metrics; undefined = no label. */
  instance: string | undefined;
}

/** Options of {@link observability}: who may read /metrics and /dashboard. */
export interface ObservabilityAccess {
  /**
   * A bearer token that opens /metrics and /dashboard to non-loopback clients
   * (`Authorization: Bearer <token>`); undefined = loopback clients only.
   */
  token: string | undefined;
  /** Dashboard event streams open at once; more are refused with 503. */
  maxStreams: number;
}

/** SLOs of the payments API (deploy/prometheus/slo.json holds the same, for the alert rules). */
export const SLO_RULES: readonly string[] = ['p99 < 200ms over 1m', 'error_rate < 1% over 1m'];

/**
 * `le` bounds of the request-duration histogram, in seconds: prom-client's defaults plus the
 * latency SLO's 0.2, so Prometheus can count the requests slower than the objective.
 */
export const REQUEST_BUCKETS: readonly number[] = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.25, 0.5, 1, 2.5, 5, 10,
];

/** Headers a reverse proxy adds: behind a local proxy every client would look like loopback. */
const PROXY_HEADERS = ['forwarded', 'x-forwarded-for', 'x-real-ip', 'x-forwarded-host'];

/**
 * The onRequest hook of the observability routes: loopback clients that come through no
 * proxy, and clients with the token, pass; others get 403 FORBIDDEN. Uses the socket's
 * address, never a header the client chose.
 */
function accessGuard(token: string | undefined): onRequestHookHandler {
  return (request: FastifyRequest, reply: FastifyReply, done: () => void) => {
    if (token !== undefined) {
      const match = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.authorization ?? '');
      if (match !== null && tokensEqual(match[1]!, token)) return done();
    }
    const proxied = PROXY_HEADERS.some((h) => request.headers[h] !== undefined);
    if (isLoopback(request.raw.socket.remoteAddress) && !proxied) return done();
    void reply.code(403).send({
      code: 'FORBIDDEN',
      message:
        token === undefined
          ? `${request.url.split('?')[0]} answers loopback clients only (set METRICS_TOKEN to open it to others)`
          : `${request.url.split('?')[0]} answers loopback clients and "Authorization: Bearer <METRICS_TOKEN>"`,
    });
  };
}

function isObservabilityRoute(url: string): boolean {
  return url === '/metrics' || url === '/dashboard' || url.startsWith('/dashboard/');
}

/** The registry, request and runtime metrics, SLOs, leak detector and dashboard of the service. */
export function createObservability(options: ObservabilityParts): Observability {
  const registry = new MetricsRegistry(
    options.instance === undefined ? {} : { labels: { instance: options.instance } },
  );
  const requests = new RequestMetrics({ registry, slowMs: 500, buckets: REQUEST_BUCKETS });
  const runtime = new RuntimeMetrics({ registry });
  const slo = new SloMonitor({ requests, rules: SLO_RULES, minRequests: 20 });
  const leaks = new LeakDetector({ registry });
  const dashboard = new Dashboard({ requests, runtime, slo, title: 'hotpath payments' });
  return {
    registry,
    requests,
    runtime,
    slo,
    leaks,
    dashboard,
    close: async () => {
      await Promise.all([
        dashboard.close(),
        slo.close(),
        leaks.close(),
        runtime.close(),
        requests.close(),
      ]);
    },
  };
}

/**
 * Serves `parts` on the root instance: request instrumentation, GET /metrics, /dashboard, and
 * SLO and leak events logged through the app's logger. Call it before declaring routes so its
 * hooks see all of them. Closing the app closes `parts`.
 */
export async function observability(
  app: FastifyInstance,
  parts: Observability,
  access: ObservabilityAccess,
): Promise<void> {
  const { registry, requests, slo, leaks, dashboard } = parts;
  slo.on('breach', (e) =>
    app.log.warn(
      { rule: e.rule.expression, value: e.value, threshold: e.threshold },
      'SLO breached',
    ),
  );
  slo.on('recovery', (e) =>
    app.log.info({ rule: e.rule.expression, value: e.value }, 'SLO recovered'),
  );
  leaks.on('leak', (e) =>
    app.log.error(
      { mbPerMinute: e.slopeMbPerMinute, r2: e.r2, samples: e.samples.length, spanMs: e.spanMs },
      'heap keeps growing after GC',
    ),
  );
  // A hook on these routes only: a root hook would cost every API request its microseconds.
  const guard = accessGuard(access.token);
  app.addHook('onRoute', (route) => {
    if (!isObservabilityRoute(route.url)) return;
    const hooks = route.onRequest === undefined ? [] : [route.onRequest].flat();
    if (!hooks.includes(guard)) route.onRequest = [guard, ...hooks];
  });
  await app.register(fastifyMetrics, { requests, registry });
  await app.register(fastifyDashboard, { dashboard, maxStreams: access.maxStreams });
  app.addHook('onClose', () => parts.close());
}
