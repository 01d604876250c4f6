import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ProfilingEndpointsOptions } from './endpoints.js';
import { ProfilingEndpoints } from './endpoints.js';

/** Options of {@link fastifyProfiling}. */
export interface FastifyProfilingOptions extends ProfilingEndpointsOptions {
  /**
   * Fastify route `config` of the endpoints' routes, e.g. `{ hotpathMetrics: false }` to keep
   * 30-second profile requests out of latency metrics and SLOs.
   */
  routeConfig?: Record<string, unknown>;
}

/**
 * Fastify plugin serving the {@link ProfilingEndpoints} under `prefix` (`/debug/pprof` by
 * default). Registers no route at all unless `enabled` is true, so a disabled service answers
 * 404 from its own router. The access check uses the socket's address, never `request.ip`,
 * so a `trustProxy` setting cannot open the endpoints to forwarded traffic. The profiler is
 * closed with the Fastify instance.
 *
 * @example
 * ```ts
 * await app.register(fastifyProfiling, { enabled: true });
 * // curl -o cpu.pb.gz 'http://127.0.0.1:3000/debug/pprof/profile?seconds=10'
 * ```
 */
export async function fastifyProfiling(
  fastify: FastifyInstance,
  options: FastifyProfilingOptions,
): Promise<void> {
  const endpoints = new ProfilingEndpoints(options);
  if (!endpoints.enabled) return;
  fastify.addHook('onClose', async () => endpoints.close());
  const handler = async (
    request: FastifyRequest<{ Params: { '*'?: string } }>,
    reply: FastifyReply,
  ): Promise<void> => {
    reply.hijack();
    const url = new URL(request.raw.url ?? '/', 'http://localhost');
    await endpoints.handleRoute(
      request.params['*'] ?? '',
      url.searchParams,
      request.raw,
      reply.raw,
    );
  };
  const prefix = endpoints.prefix;
  const config = { ...options.routeConfig };
  fastify.get(prefix, { config }, handler);
  fastify.get(`${prefix}/*`, { config }, handler);
}
