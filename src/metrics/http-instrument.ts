import type { IncomingMessage, ServerResponse } from 'node:http';
import { InvalidOptionError } from '../errors/index.js';
import type { RequestMetrics } from './request-metrics.js';

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
 * Wraps a plain `node:http` request handler so every request is recorded in `requests`:
 * route template, method, status class, latency from handler entry to the response's
 * `close`, in-flight count. A response closed before it finished is recorded as status 499.
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
  return function instrumented(request, response) {
    const start = performance.now();
    requests.inFlight++;
    response.once('close', () => {
      requests.inFlight--;
      const status = response.writableFinished ? response.statusCode : 499;
      requests.observe(request.method ?? 'GET', route(request), status, performance.now() - start);
    });
    handler(request, response);
  };
}
