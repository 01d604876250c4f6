import type { FastifyPluginCallback, FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import { InvalidOptionError } from '../errors/index.js';
import {
  LoadShedder,
  priorityIndex,
  type LoadShedderOptions,
  type ShedPriority,
} from './load-shedder.js';
import { DEFAULT_EXEMPT_PATHS, overloadedResponse, pathMatcher } from './shed-response.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Load-shedding priority of the route (`hotpath/resilience`). @defaultValue `'normal'` */
    priority?: ShedPriority;
  }
}

/** The route facts a `neverShed` predicate sees. */
export interface ShedRouteInfo {
  method: string | string[];
  url: string;
  config: Record<string, unknown>;
}

/** Options of {@link fastifyLoadShedder}: a shedder to use, or options to make one. */
export interface FastifyLoadShedderOptions extends LoadShedderOptions {
  /** The shedder to consult; the plugin then does not close it. @defaultValue a new one */
  shedder?: LoadShedder;
  /**
   * Routes never shed: paths (a path covers the routes under it) or a predicate.
   * @defaultValue `['/health', '/healthz', '/metrics', '/debug/pprof']`
   */
  neverShed?: readonly string[] | ((route: ShedRouteInfo) => boolean);
  /** Priority of routes without `config.priority` (and of 404s). @defaultValue `'normal'` */
  defaultPriority?: ShedPriority;
  /** `Retry-After` of a shed request, in whole seconds. @defaultValue 1 */
  retryAfterSeconds?: number;
}

/** Priority index stored in each route's config; -1 = never shed. */
const kShed = Symbol('hotpath.shed');
const NEVER = -1;

/**
 * Fastify plugin: refuses requests with 503 `{ code: 'OVERLOADED', message }` and a
 * `Retry-After` header in an `onRequest` hook, before any other work, while a
 * {@link LoadShedder} says the event loop is overloaded. Routes set their priority with
 * `config: { priority: 'low' | 'normal' | 'high' | 'critical' }`; `neverShed` routes (health,
 * metrics and profiling by default) are always served.
 *
 * When the shedder is not shedding, the hook only reads one field and calls `done()`. The
 * route's priority is resolved once, when the route is declared, so register the plugin
 * before the routes (its hook is global, so it runs before the hooks of plugins registered
 * after it, authentication included).
 * @throws {@link InvalidOptionError} `HP_ERR_INVALID_OPTION` (through `register`) on a bad
 * option or a route with an unknown `config.priority`.
 * @example
 * ```ts
 * await app.register(fastifyLoadShedder, { delayThresholdMs: 50 });
 * app.get('/api/reports', { config: { priority: 'low' } }, handler);
 * app.post('/api/payments', { config: { priority: 'critical' } }, handler);
 * ```
 */
export const fastifyLoadShedder: FastifyPluginCallback<FastifyLoadShedderOptions> = Object.assign(
  function fastifyLoadShedder(
    fastify: Parameters<FastifyPluginCallback<FastifyLoadShedderOptions>>[0],
    options: FastifyLoadShedderOptions,
    done: (err?: Error) => void,
  ): void {
    let shedder: LoadShedder;
    let defaultIndex: number;
    let isExempt: (route: ShedRouteInfo) => boolean;
    let headers: Record<string, string>;
    let body: string;
    try {
      if (options.shedder !== undefined && !(options.shedder instanceof LoadShedder)) {
        throw new InvalidOptionError('shedder', 'expected a LoadShedder');
      }
      defaultIndex = priorityIndex(options.defaultPriority ?? 'normal', 'defaultPriority');
      const neverShed = options.neverShed ?? DEFAULT_EXEMPT_PATHS;
      if (typeof neverShed === 'function') {
        isExempt = neverShed;
      } else {
        const matches = pathMatcher(neverShed, 'neverShed');
        isExempt = (route) => matches(route.url);
      }
      const response = overloadedResponse(
        'The server is overloaded; retry later.',
        options.retryAfterSeconds ?? 1,
      );
      body = response.body;
      // Fastify computes the length itself.
      const { 'content-length': _length, ...rest } = response.headers;
      headers = rest;
      shedder = options.shedder ?? new LoadShedder(options);
    } catch (error) {
      done(error as Error);
      return;
    }
    const owned = options.shedder === undefined;

    fastify.addHook('onRoute', (route: RouteOptions) => {
      const config = (route.config ?? {}) as Record<string | symbol, unknown>;
      const info: ShedRouteInfo = { method: route.method, url: route.url, config };
      const priority = config.priority as ShedPriority | undefined;
      const index = isExempt(info)
        ? NEVER
        : priority === undefined
          ? defaultIndex
          : priorityIndex(priority, `config.priority of ${route.url}`);
      // Fastify copies the route's config (own symbols included) into the context that
      // request.routeOptions.config returns.
      route.config = { ...config, [kShed]: index } as RouteOptions['config'];
    });

    fastify.addHook(
      'onRequest',
      function shedOnOverload(request: FastifyRequest, reply: FastifyReply, next: () => void) {
        if (!shedder.isShedding) {
          next();
          return;
        }
        // Read only while shedding: Fastify builds routeOptions afresh on every access.
        const index = (
          request.routeOptions.config as unknown as Record<symbol, number | undefined>
        )[kShed];
        if (index === NEVER || !shedder.shouldShed(index ?? defaultIndex)) {
          next();
          return;
        }
        void reply.code(503).headers(headers).send(body);
      },
    );
    if (owned) fastify.addHook('onClose', async () => shedder.close());
    done();
  },
  {
    [Symbol.for('skip-override')]: true,
    [Symbol.for('fastify.display-name')]: 'hotpath-load-shedder',
  },
);
