/**
 * The profiling endpoints of hotpath/profile under /debug/pprof: CPU and heap profiles (pprof
 * or DevTools formats), guarded heap snapshots, a flame graph page and an active-handles
 * summary, with buttons on the dashboard. Switched by PROFILING=on|off (on by default). They answer loopback clients only,
 * whatever HOST the service listens on, and refuse proxied requests.
 */
import type { FastifyInstance } from 'fastify';
import { fastifyProfiling } from 'hotpath/profile';
import type { ServiceConfig } from '../config.js';

/** Registers the endpoints unless `config.profiling` is `off`. */
export async function registerProfiling(
  app: FastifyInstance,
  config: Partial<ServiceConfig>,
): Promise<void> {
  if (config.profiling === 'off') return;
  await app.register(fastifyProfiling, {
    enabled: true,
    // A 10 s profile request is not API latency: keep it out of request metrics and SLOs.
    routeConfig: { hotpathMetrics: false },
  });
  // Buttons on the dashboard: each opens a flame graph of a fresh 10 s profile in a new tab.
  app.observability.dashboard.addPanel({
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
