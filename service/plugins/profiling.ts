/**
 * The profiling endpoints of hotpath/profile under /debug/pprof: CPU and heap profiles (pprof
 * or DevTools formats), guarded heap snapshots, a flame graph page and an active-handles
 * summary, with buttons on the dashboard. Switched by PROFILING=on|off (on by default). They answer loopback clients only,
 * whatever HOST the service listens on, and refuse proxied requests.
 */
import type { FastifyInstance } from 'fastify';
import type { Dashboard } from 'hotpath/metrics';
import { fastifyProfiling } from 'hotpath/profile';

/** Registers the endpoints (PROFILING=on), with their buttons on `dashboard`. */
export async function registerProfiling(app: FastifyInstance, dashboard: Dashboard): Promise<void> {
  await app.register(fastifyProfiling, {
    enabled: true,
    // A 10 s profile request is not API latency: keep it out of request metrics and SLOs.
    routeConfig: { hotpathMetrics: false },
  });
  // Buttons on the dashboard: each opens a flame graph of a fresh 10 s profile in a new tab.
  dashboard.addPanel({
    id: 'profiling',
    title: 'Profile (loopback only)',
    kind: 'links',
    links: [
      { label: 'CPU profile 10 s', href: '/debug/pprof/flamegraph?seconds=10' },
      { label: 'Heap profile 10 s', href: '/debug/pprof/flamegraph?seconds=10&kind=heap' },
      { label: 'Active handles', href: '/debug/pprof/handles' },
      { label: 'All endpoints', href: '/debug/pprof/' },
    ],
  });
}
