import type { FastifyInstance } from 'fastify';
import { RETRY_AFTER_SECONDS } from '../http-errors.js';
import type { Readiness } from '../readiness.js';

export type { ReadinessCheck } from '../readiness.js';

/**
 * GET /health/live: the process runs (200 unless it is wedged).
 * GET /health/ready: 200 `{ status: 'ready', checks }` when every dependency answers; 200
 * `{ status: 'degraded', checks }` when only non-critical ones (Redis, the gateway) fail, since
 * the service still serves; 503 SERVICE_UNAVAILABLE naming each failing critical dependency
 * (the database), and 503 while draining.
 */
export function healthRoutes(
  app: FastifyInstance,
  readiness: Readiness,
  isDraining: () => boolean,
): void {
  // Probes do not revalidate, and their answers are far below any compression threshold: no
  // ETag, no compression hook.
  const probe = { config: { hotpathCompression: false } };
  app.get('/health/live', probe, async () => ({ status: 'ok' }));

  app.get('/health/ready', probe, async (_request, reply) => {
    if (isDraining()) {
      return reply
        .code(503)
        .header('retry-after', String(RETRY_AFTER_SECONDS))
        .send({ code: 'SERVICE_UNAVAILABLE', message: 'shutting down', checks: {} });
    }
    const report = await readiness.check();
    const checks = Object.fromEntries(report.dependencies.map((d) => [d.name, d.state]));
    if (report.ready) return { status: report.degraded ? 'degraded' : 'ready', checks };
    return reply
      .code(503)
      .header('retry-after', String(RETRY_AFTER_SECONDS))
      .send({
        code: 'SERVICE_UNAVAILABLE',
        message: report.dependencies
          .filter((d) => d.critical && !d.ok)
          .map((d) => `${d.name} is ${d.state}`)
          .join('; '),
        checks,
      });
  });
}
