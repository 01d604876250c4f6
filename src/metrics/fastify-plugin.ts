import type { IncomingMessage, Server, ServerResponse } from 'node:http';
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
import { ServerRequests } from './server-requests.js';

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

/** What a route handler tells about its request: the route's recorder and the request's logger. */
interface RouteTag {
  recorder: RouteRecorder;
  log: SlowRequestLogger;
}

/** The tag of a request on a route left out of the metrics. */
const SKIPPED = Symbol('hotpath.metrics.skipped');

/** The raw response, with what the plugin hangs on it (HTTP/2 and `inject()` only). */
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
 * several microseconds of CPU per request (bench/metrics/instrumentation.bench.ts). On an
 * HTTP/1 server it follows requests on Node's `http.server.request.start` and
 * `http.server.response.finish` diagnostics channels, with nothing attached per request, and
 * wraps every route handler as routes are declared so the request carries its route's
 * recorder (no label lookup per request). Requests that never reach a handler (404, refused
 * by a hook, failed validation) get their template from the router. On HTTP/2, and with
 * `inject()` (no server), it watches each response's `close` event instead; with `inject()`
 * only requests that reach a handler are recorded.
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

    // Requests through an HTTP/1 server are followed on Node's diagnostics channels, with
    // nothing attached per request. HTTP/2 servers publish nothing there, and inject() has no
    // server at all: those requests are watched through the response's `close` event.
    const followed =
      fastify.initialConfig.http2 === true
        ? undefined
        : new ServerRequests<RouteTag | typeof SKIPPED>(fastify.server as Server, {
            onStart: () => {
              requests.inFlight++;
            },
            onEnd: (request, statusCode, durationMs) => {
              const tag = request.tag;
              if (tag === SKIPPED) return;
              requests.inFlight--;
              const recorder =
                tag?.recorder ??
                requests.route(request.req.method ?? 'GET', templateOf(fastify, request.req));
              recorder.observe(statusCode, durationMs, tag?.log);
            },
          });

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
    // HTTP/2: before Fastify's own listener, which may run a handler synchronously.
    if (followed === undefined) fastify.server.prependListener('request', onServerRequest);

    fastify.addHook('onRoute', (route) => {
      const handler = route.handler;
      if (route.config?.hotpathMetrics === false) {
        route.handler = function skipped(this: FastifyInstance, request, reply) {
          const request_ = followed?.find(request.raw);
          if (request_ !== undefined) {
            if (request_.tag !== SKIPPED) requests.inFlight--;
            request_.tag = SKIPPED;
          } else {
            const res = reply.raw as Watched;
            if (res[kWatched] === true && res[kSkip] !== true) requests.inFlight--;
            res[kSkip] = true;
          }
          return handler.call(this, request, reply);
        };
        return;
      }
      const url = route.url;
      const methods = Array.isArray(route.method) ? route.method : [route.method];
      const recorders = new Map(methods.map((m) => [m, requests.route(m, url)]));
      const single = methods.length === 1 ? recorders.get(methods[0]!) : undefined;
      route.handler = function instrumented(this: FastifyInstance, request, reply: FastifyReply) {
        const recorder =
          single ?? recorders.get(request.method) ?? requests.route(request.method, url);
        const request_ = followed?.find(request.raw);
        // The outermost wrapper wins: Fastify's HEAD route calls the (wrapped) GET handler.
        if (request_ !== undefined) {
          request_.tag ??= { recorder, log: request.log };
        } else {
          const res = reply.raw as Watched;
          res[kRecorder] ??= recorder;
          res[kLog] ??= request.log;
          if (res[kWatched] !== true) watch(request.raw, res);
        }
        return handler.call(this, request, reply);
      };
    });
    fastify.addHook('onClose', (_instance, next) => {
      followed?.close();
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
