/**
 * The profiling endpoints of hotpath/profile under /debug/pprof: CPU and heap profiles (pprof
 * or DevTools formats), guarded heap snapshots, a flame graph page and an active-handles
 * summary. Switched by PROFILING=on|off (on by default). They answer loopback clients only,
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
}
