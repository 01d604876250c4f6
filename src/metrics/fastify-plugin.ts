import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyPluginCallback, FastifyReply } from 'fastify';
import { InvalidOptionError } from '../errors/index.js';
import type { MetricsRegistry } from './registry.js';
import {
  RequestMetrics,
  UNMATCHED_ROUTE,
  type RouteRecorder,
  type SlowRequestLogger,
} from './request-metrics.js';

/** Options of {@link fastifyMetrics}. */
export interface FastifyMetricsOptions {
  /** Where requests are recorded. @defaultValue a new {@link RequestMetrics} on `registry` */
  requests?: RequestMetrics;
  /** Registry exposed at `path`. @defaultValue `requests.registry`, or a new one */
  registry?: MetricsRegistry;
  /** Path of the Prometheus endpoint; `false` adds no route. @defaultValue `'/metrics'` */
  path?: string | false;
  /** Longest synchronous stretch of a scrape, in milliseconds. @defaultValue 0.25 */
  sliceMs?: number;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** `false` leaves the route out of request metrics (long-lived streams). */
    hotpathMetrics?: boolean;
  }
}

const kWatched = Symbol('hotpath.metrics.watched');
const kRecorder = Symbol('hotpath.metrics.recorder');
const kLog = Symbol('hotpath.metrics.log');
const kSkip = Symbol('hotpath.metrics.skip');

/** The raw response, with what the plugin hangs on it. */
type Watched = ServerResponse & {
  [kWatched]?: true;
  [kRecorder]?: RouteRecorder;
  [kLog]?: SlowRequestLogger;
  [kSkip]?: true;
};

/**
 * The route template of a request that never reached its handler (refused by a hook, or
 * failed validation): asks the router, then puts `:name` back for each parameter value.
 */
function templateOf(fastify: FastifyInstance, req: IncomingMessage): string {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  const found = fastify.findRoute({ method: (req.method ?? 'GET') as 'GET', url: path });
  if (found === null) return UNMATCHED_ROUTE;
  const params = (found.params ?? {}) as Record<string, string>;
  const segments = path.split('/');
  for (const [name, value] of Object.entries(params)) {
    if (name === '*') {
      const i = segments.findIndex((s, k) => k > 0 && segments.slice(k).join('/') === value);
      if (i > 0) segments.splice(i, segments.length - i, '*');
      continue;
    }
    const i = segments.findIndex((s) => s === value || safeDecode(s) === value);
    if (i >= 0) segments[i] = `:${name}`;
  }
  return segments.join('/');
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/**
 * Fastify plugin: records every request in a {@link RequestMetrics} (route *template*, method,
 * status class, latency, in-flight) and serves the registry at `GET /metrics`.
 *
 * It uses no Fastify hooks on the request path: each hook kind a route has costs Fastify
 * about as much CPU as the request itself on a cached read route
 * (bench/metrics/instrumentation.bench.ts). Instead it listens to the server's `request`
 * event and each response's `close`, and wraps every route handler as routes are declared to
 * tag the response with the route's recorder, so a request does no label lookup. Requests that
 * never reach a handler (404, refused by a hook, failed validation) get their template from
 * the router. With `inject()` there is no server `request` event, so only requests that reach
 * a handler are recorded.
 *
 * Register it before declaring routes. A route with `config: { hotpathMetrics: false }` is
 * left out (the dashboard's event stream is).
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

    const watch = (req: IncomingMessage, res: Watched): void => {
      res[kWatched] = true;
      requests.inFlight++;
      const start = performance.now();
      res.on('close', () => {
        if (res[kSkip] === true) return;
        requests.inFlight--;
        const recorder =
          res[kRecorder] ?? requests.route(req.method ?? 'GET', templateOf(fastify, req));
        recorder.observe(
          // writableEnded, not writableFinished: inject()'s response never "finishes".
          res.writableEnded ? res.statusCode : 499,
          performance.now() - start,
          res[kLog],
        );
      });
    };
    const onServerRequest = (req: IncomingMessage, res: Watched): void => {
      if (res[kWatched] !== true) watch(req, res);
    };
    // Before Fastify's own listener, which may run a handler synchronously.
    fastify.server.prependListener('request', onServerRequest);

    fastify.addHook('onRoute', (route) => {
      const handler = route.handler;
      if (route.config?.hotpathMetrics === false) {
        route.handler = function skipped(this: FastifyInstance, request, reply) {
          const res = reply.raw as Watched;
          if (res[kWatched] === true && res[kSkip] !== true) requests.inFlight--;
          res[kSkip] = true;
          return handler.call(this, request, reply);
        };
        return;
      }
      const url = route.url;
      const methods = Array.isArray(route.method) ? route.method : [route.method];
      const recorders = new Map(methods.map((m) => [m, requests.route(m, url)]));
      const single = methods.length === 1 ? recorders.get(methods[0]!) : undefined;
      route.handler = function instrumented(this: FastifyInstance, request, reply: FastifyReply) {
        const res = reply.raw as Watched;
        // The outermost wrapper wins: Fastify's HEAD route calls the (wrapped) GET handler.
        res[kRecorder] ??=
          single ?? recorders.get(request.method) ?? requests.route(request.method, url);
        res[kLog] = request.log;
        // inject() emits no server `request` event.
        if (res[kWatched] !== true) watch(request.raw, res);
        return handler.call(this, request, reply);
      };
    });
    fastify.addHook('onClose', (_instance, next) => {
      fastify.server.off('request', onServerRequest);
      next();
    });
    if (owned) fastify.addHook('onClose', async () => requests.close());
    if (path !== false) {
      fastify.get(path, (_request, reply) => {
        // Streamed slice by slice; if the client goes away Fastify destroys the stream, which
        // ends the generator at its next slice.
        const body = Readable.from(registry.stream(sliceMs === undefined ? {} : { sliceMs }), {
          objectMode: false,
        });
        return reply.type(registry.contentType).send(body);
      });
    }
    done();
  },
  { [Symbol.for('skip-override')]: true, [Symbol.for('fastify.display-name')]: 'hotpath-metrics' },
);
