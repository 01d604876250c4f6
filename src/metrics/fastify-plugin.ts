import type { FastifyPluginCallback, FastifyReply, FastifyRequest } from 'fastify';
import { InvalidOptionError } from '../errors/index.js';
import type { MetricsRegistry } from './registry.js';
import { RequestMetrics, UNMATCHED_ROUTE } from './request-metrics.js';

/** Options of {@link fastifyMetrics}. */
export interface FastifyMetricsOptions {
  /** Where requests are recorded. @defaultValue a new {@link RequestMetrics} on `registry` */
  requests?: RequestMetrics;
  /** Registry exposed at `path`. @defaultValue `requests.registry`, or a new one */
  registry?: MetricsRegistry;
  /** Path of the Prometheus endpoint; `false` adds no route. @defaultValue `'/metrics'` */
  path?: string | false;
  /** Longest synchronous stretch of a scrape, in milliseconds. @defaultValue 0.5 */
  sliceMs?: number;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** `false` leaves the route out of request metrics (long-lived streams). */
    hotpathMetrics?: boolean;
  }
}

const kAborted = Symbol('hotpath.metrics.aborted');
type Marked = FastifyRequest & { [kAborted]?: true };

/**
 * Fastify plugin: records every request in a {@link RequestMetrics} (route *template* from
 * `request.routeOptions.url`, `unmatched` for 404s, latency from `reply.elapsedTime`, so no
 * extra clock read) and serves the registry at `GET /metrics`. Registered without
 * encapsulation, so its hooks see every route of the instance. A route with
 * `config: { hotpathMetrics: false }` is left out (the dashboard's event stream is).
 * @example
 * ```ts
 * const requests = new RequestMetrics({ slowMs: 500 });
 * await app.register(fastifyMetrics, { requests });
 * ```
 */
export const fastifyMetrics: FastifyPluginCallback<FastifyMetricsOptions> = Object.assign(
  function fastifyMetrics(
    fastify: Parameters<FastifyPluginCallback<FastifyMetricsOptions>>[0],
    options: FastifyMetricsOptions,
    done: (err?: Error) => void,
  ): void {
    const owned = options.requests === undefined;
    let requests: RequestMetrics;
    try {
      if (options.requests !== undefined && !(options.requests instanceof RequestMetrics)) {
        throw new InvalidOptionError('requests', 'expected a RequestMetrics');
      }
      requests =
        options.requests ??
        new RequestMetrics(options.registry === undefined ? {} : { registry: options.registry });
    } catch (error) {
      done(error as Error);
      return;
    }
    const registry = options.registry ?? requests.registry;
    const path = options.path ?? '/metrics';
    const sliceMs = options.sliceMs;

    fastify.addHook('onRequest', (request, _reply, next) => {
      if (request.routeOptions.config.hotpathMetrics !== false) requests.inFlight++;
      next();
    });
    fastify.addHook('onResponse', (request: Marked, reply: FastifyReply, next) => {
      if (request.routeOptions.config.hotpathMetrics === false) return next();
      const aborted = request[kAborted] === true;
      if (!aborted) requests.inFlight--;
      requests.observe(
        request.method,
        request.routeOptions.url ?? UNMATCHED_ROUTE,
        aborted ? 499 : reply.statusCode,
        reply.elapsedTime,
        request.log,
      );
      next();
    });
    fastify.addHook('onRequestAbort', (request: Marked, next) => {
      if (request.routeOptions.config.hotpathMetrics === false) return next();
      // The client gave up: no longer in flight; if a reply still completes it is recorded as 499.
      request[kAborted] = true;
      requests.inFlight--;
      next();
    });
    if (owned) fastify.addHook('onClose', async () => requests.close());
    if (path !== false) {
      fastify.get(path, async (request, reply) => {
        const controller = new AbortController();
        const abort = (): void => controller.abort();
        request.raw.once('close', abort);
        try {
          const text = await registry.metrics({
            signal: controller.signal,
            ...(sliceMs === undefined ? {} : { sliceMs }),
          });
          return reply.type(registry.contentType).send(text);
        } finally {
          request.raw.off('close', abort);
        }
      });
    }
    done();
  },
  { [Symbol.for('skip-override')]: true, [Symbol.for('fastify.display-name')]: 'hotpath-metrics' },
);
