import { type IncomingMessage, Server as HttpServer, type ServerResponse } from 'node:http';
import { Server as HttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import { InvalidOptionError } from '../errors/index.js';
import type { RequestMetrics } from './request-metrics.js';
import { ServerRequests } from './server-requests.js';

/** Options of {@link instrumentHttp}. */
export interface InstrumentHttpOptions {
  /** Where requests are recorded. */
  requests: RequestMetrics;
  /**
   * The route *template* of a request (never the raw URL: that would make a series per id).
   * @defaultValue {@link routeTemplate} of the path
   */
  route?: (request: IncomingMessage) => string;
}

type Handler = (request: IncomingMessage, response: ServerResponse) => void;

const ID_SEGMENT =
  /^(?:\d+|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{16,}|[A-Za-z0-9_-]{20,})$/i;

/**
 * A route template guessed from a URL: the query is dropped and every path segment that
 * looks like an id (digits, a UUID, long hex or a long token) becomes `:id`. Pass your own
 * `route` function when your router knows the template.
 */
export function routeTemplate(url: string | undefined): string {
  if (url === undefined || url === '') return '/';
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  return path
    .split('/')
    .map((segment) => (ID_SEGMENT.test(segment) ? ':id' : segment))
    .join('/');
}

/**
 * Wraps a plain `node:http` (or `node:https`) request handler so every request is recorded in
 * `requests`: route template, method, status class, latency, in-flight count. A response
 * not finished when its connection closed is recorded as status 499.
 *
 * From the first request on, the wrapper follows its server on Node's `http.server.*`
 * diagnostics channels (the way the Fastify plugin does): latency runs from when Node parsed
 * the request's head to the response's `finish`, and nothing is attached to each request.
 * The first request of a server, and requests on servers that publish nothing there
 * (HTTP/2's compatibility API), are watched through the response's `close` event instead,
 * with latency from handler entry. The server's `close` event stops the following.
 * @example
 * ```ts
 * const requests = new RequestMetrics();
 * http.createServer(instrumentHttp(handler, { requests })).listen(0, '127.0.0.1');
 * ```
 */
export function instrumentHttp(handler: Handler, options: InstrumentHttpOptions): Handler {
  if (typeof handler !== 'function') throw new InvalidOptionError('handler', 'expected a function');
  const requests = options?.requests;
  if (requests === undefined || typeof requests.observe !== 'function') {
    throw new InvalidOptionError('requests', 'expected a RequestMetrics');
  }
  const route = options.route ?? ((request: IncomingMessage) => routeTemplate(request.url));
  const record = (request: IncomingMessage, status: number, durationMs: number): void => {
    requests.inFlight--;
    requests.observe(request.method ?? 'GET', route(request), status, durationMs);
  };
  /** Followers by server; `null` for a server that cannot be followed. */
  const followers = new WeakMap<object, ServerRequests<true> | null>();
  let lastServer: unknown;
  let lastFollowed: ServerRequests<true> | undefined;
  const followerOf = (request: IncomingMessage): ServerRequests<true> | undefined => {
    const server = (request.socket as (Socket & { server?: unknown }) | null)?.server;
    if (server === undefined || server === null) return undefined;
    if (server === lastServer) return lastFollowed;
    let followed = followers.get(server);
    if (followed === undefined) {
      followed =
        server instanceof HttpServer || server instanceof HttpsServer
          ? follow(server as HttpServer)
          : null;
      followers.set(server, followed);
    }
    lastServer = server;
    lastFollowed = followed ?? undefined;
    return lastFollowed;
  };
  const follow = (server: HttpServer): ServerRequests<true> => {
    const followed = new ServerRequests<true>(server, {
      onStart: () => undefined,
      onEnd: (request, statusCode, durationMs) => {
        // Only requests whose handler ran are counted (the first one is watched instead).
        if (request.tag === true) record(request.req, statusCode, durationMs);
      },
    });
    server.once('close', () => followed.close());
    return followed;
  };
  return function instrumented(request, response) {
    requests.inFlight++;
    const followed = followerOf(request)?.find(request);
    if (followed !== undefined) {
      followed.tag = true;
    } else {
      const start = performance.now();
      response.once('close', () => {
        record(
          request,
          response.writableFinished ? response.statusCode : 499,
          performance.now() - start,
        );
      });
    }
    handler(request, response);
  };
}
