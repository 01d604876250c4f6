import type { FastifyInstance } from 'fastify';

/** A dependency the service needs to serve traffic. */
export interface ReadinessCheck {
  name: string;
  check: () => Promise<void>;
}

/**
 * GET /health/live: the process runs (200 unless it is wedged).
 * GET /health/ready: 200 when every dependency answers, else 503 naming each one that failed.
 */
export function healthRoutes(
  app: FastifyInstance,
  checks: readonly ReadinessCheck[],
  isDraining: () => boolean,
): void {
  app.get('/health/live', async () => ({ status: 'ok' }));

  app.get('/health/ready', async (_request, reply) => {
    if (isDraining()) {
      return reply
        .code(503)
        .send({ code: 'SERVICE_UNAVAILABLE', message: 'shutting down', checks: {} });
    }
    const results = await Promise.all(
      checks.map(async ({ name, check }) => {
        try {
          await check();
          return [name, 'ok'] as const;
        } catch (error) {
          return [name, `down: ${(error as Error).message}`] as const;
        }
      }),
    );
    const failing = results.filter(([, state]) => state !== 'ok');
    const body = Object.fromEntries(results);
    if (failing.length === 0) return { status: 'ready', checks: body };
    return reply.code(503).send({
      code: 'SERVICE_UNAVAILABLE',
      message: failing.map(([name, state]) => `${name} is ${state}`).join('; '),
      checks: body,
    });
  });
}
