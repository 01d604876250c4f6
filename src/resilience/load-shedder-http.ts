import type { IncomingMessage, ServerResponse } from 'node:http';
import { InvalidOptionError } from '../errors/index.js';
import { LoadShedder, priorityIndex, type ShedPriority } from './load-shedder.js';
import { DEFAULT_EXEMPT_PATHS, overloadedResponse, pathMatcher, pathOf } from './shed-response.js';

type Handler = (request: IncomingMessage, response: ServerResponse) => void;

/** Options of {@link shedHttp}. */
export interface ShedHttpOptions {
  /** The shedder to consult (its owner closes it). */
  shedder: LoadShedder;
  /** Priority of a request; called only while shedding. @defaultValue always `'normal'` */
  priority?: (request: IncomingMessage) => ShedPriority;
  /**
   * Requests never shed: paths (a path covers those under it) or a predicate; checked only
   * while shedding. @defaultValue `['/health', '/healthz', '/metrics', '/debug/pprof']`
   */
  neverShed?: readonly string[] | ((request: IncomingMessage) => boolean);
  /** `Retry-After` of a shed request, in whole seconds. @defaultValue 1 */
  retryAfterSeconds?: number;
}

/**
 * Wraps a plain `node:http` (or `node:https`) request handler so requests are answered 503
 * `{ code: 'OVERLOADED', message }` with `Retry-After` before the handler runs, while
 * `shedder` says the event loop is overloaded. The priority and exemption of a request are
 * worked out only while shedding; otherwise the wrapper reads one field and calls `handler`.
 * @throws {@link InvalidOptionError} `HP_ERR_INVALID_OPTION` on a bad option.
 * @example
 * ```ts
 * const shedder = new LoadShedder();
 * http.createServer(shedHttp(handler, {
 *   shedder,
 *   priority: (req) => (req.url?.startsWith('/api/reports') ? 'low' : 'normal'),
 * })).listen(3000);
 * ```
 */
export function shedHttp(handler: Handler, options: ShedHttpOptions): Handler {
  if (typeof handler !== 'function') throw new InvalidOptionError('handler', 'expected a function');
  const shedder = options?.shedder;
  if (!(shedder instanceof LoadShedder)) {
    throw new InvalidOptionError('shedder', 'expected a LoadShedder');
  }
  const priority = options.priority;
  if (priority !== undefined && typeof priority !== 'function') {
    throw new InvalidOptionError('priority', 'expected a function');
  }
  const neverShed = options.neverShed ?? DEFAULT_EXEMPT_PATHS;
  let isExempt: (request: IncomingMessage) => boolean;
  if (typeof neverShed === 'function') {
    isExempt = neverShed;
  } else {
    const matches = pathMatcher(neverShed, 'neverShed');
    isExempt = (request) => matches(pathOf(request.url));
  }
  const { body, headers } = overloadedResponse(
    'The server is overloaded; retry later.',
    options.retryAfterSeconds ?? 1,
  );
  const normal = priorityIndex('normal');
  return function shedding(request: IncomingMessage, response: ServerResponse): void {
    if (
      shedder.isShedding &&
      !isExempt(request) &&
      shedder.shouldShed(priority === undefined ? normal : priorityIndex(priority(request)))
    ) {
      response.writeHead(503, headers);
      response.end(body);
      return;
    }
    handler(request, response);
  };
}
