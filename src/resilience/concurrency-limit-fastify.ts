import type { FastifyPluginCallback, FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import { InvalidOptionError } from '../errors/index.js';
import { GradientLimit, type GradientLimitOptions } from './adaptive-gradient.js';
import { ConcurrencyLimiter, type ConcurrencyPermit } from './concurrency-limiter.js';
import { DEFAULT_EXEMPT_PATHS, overloadedResponse, pathMatcher } from './shed-response.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * The route's adaptive concurrency limit (`hotpath/resilience`): `false` for none, or a
     * limiter to use (several routes may share one). @defaultValue a limiter of its own
     */
    concurrencyLimit?: false | ConcurrencyLimiter;
  }
}

/** The route facts an `exclude` predicate or a `createLimiter` factory sees. */
export interface LimitRouteInfo {
  method: string | string[];
  url: string;
  config: Record<string, unknown>;
}

/** Options of {@link fastifyConcurrencyLimit}. */
export interface FastifyConcurrencyLimitOptions {
  /** Options of each route's {@link GradientLimit}. */
  gradient?: GradientLimitOptions;
  /** Requests that may wait for a slot, per route. @defaultValue 0 */
  maxQueue?: number;
  /** Longest wait for a slot, in ms. @defaultValue 50 */
  queueTimeoutMs?: number;
  /** Makes a route's limiter instead (then `gradient`, `maxQueue`, `queueTimeoutMs` are unused). */
  createLimiter?: (route: LimitRouteInfo) => ConcurrencyLimiter;
  /**
   * Routes without a limit: paths (a path covers the routes under it) or a predicate.
   * @defaultValue `['/health', '/healthz', '/metrics', '/debug/pprof']`
   */
  exclude?: readonly string[] | ((route: LimitRouteInfo) => boolean);
  /** `Retry-After` of a refused request, in whole seconds. @defaultValue 1 */
  retryAfterSeconds?: number;
}

/**
 * Fastify plugin: gives each route (declared after it) an adaptive concurrency limit, a
 * {@link ConcurrencyLimiter} with a {@link GradientLimit} fed by the route's own latency
 * (from `onRequest` to the response's end). A request past the limit waits up to
 * `queueTimeoutMs` when `maxQueue` allows, else gets 503 `{ code: 'OVERLOADED', message }`
 * with `Retry-After`. Responses with status 500 and above, and requests the client abandoned,
 * teach the limit nothing.
 *
 * This limits what a route waits on (a database, another service): time spent in the
 * process's own event loop before the hook runs is invisible to it, which is what
 * {@link fastifyLoadShedder} is for.
 * @throws {@link InvalidOptionError} `HP_ERR_INVALID_OPTION` (through `register`) on a bad option.
 * @example
 * ```ts
 * await app.register(fastifyConcurrencyLimit, { maxQueue: 32, queueTimeoutMs: 20 });
 * app.get('/api/users/:id/summary', handler); // its own limit
 * app.get('/api/search', { config: { concurrencyLimit: false } }, handler); // none
 * ```
 */
export const fastifyConcurrencyLimit: FastifyPluginCallback<FastifyConcurrencyLimitOptions> =
  Object.assign(
    function fastifyConcurrencyLimit(
      fastify: Parameters<FastifyPluginCallback<FastifyConcurrencyLimitOptions>>[0],
      options: FastifyConcurrencyLimitOptions,
      done: (err?: Error) => void,
    ): void {
      let createLimiter: (route: LimitRouteInfo) => ConcurrencyLimiter;
      let isExcluded: (route: LimitRouteInfo) => boolean;
      let headers: Record<string, string>;
      let body: string;
      try {
        if (options.createLimiter !== undefined) {
          if (typeof options.createLimiter !== 'function') {
            throw new InvalidOptionError('createLimiter', 'expected a function');
          }
          createLimiter = options.createLimiter;
        } else {
          const gradient = options.gradient ?? {};
          const maxQueue = options.maxQueue ?? 0;
          const queueTimeoutMs = options.queueTimeoutMs ?? 50;
          // Built once here so a bad option fails registration, not the first route.
          new ConcurrencyLimiter({
            algorithm: new GradientLimit(gradient),
            maxQueue,
            queueTimeoutMs,
          });
          createLimiter = () =>
            new ConcurrencyLimiter({
              algorithm: new GradientLimit(gradient),
              maxQueue,
              queueTimeoutMs,
            });
        }
        const exclude = options.exclude ?? DEFAULT_EXEMPT_PATHS;
        if (typeof exclude === 'function') {
          isExcluded = exclude;
        } else {
          const matches = pathMatcher(exclude, 'exclude');
          isExcluded = (route) => matches(route.url);
        }
        const response = overloadedResponse(
          'The route is at its concurrency limit; retry later.',
          options.retryAfterSeconds ?? 1,
        );
        body = response.body;
        const { 'content-length': _length, ...rest } = response.headers;
        headers = rest;
      } catch (error) {
        done(error as Error);
        return;
      }
      const owned: ConcurrencyLimiter[] = [];
      const byRoute = new Map<string, ConcurrencyLimiter>();

      fastify.addHook('onRoute', (route: RouteOptions) => {
        const config = (route.config ?? {}) as Record<string, unknown>;
        const info: LimitRouteInfo = { method: route.method, url: route.url, config };
        const configured = config.concurrencyLimit;
        if (configured === false || (configured === undefined && isExcluded(info))) return;
        let limiter: ConcurrencyLimiter;
        if (configured instanceof ConcurrencyLimiter) {
          limiter = configured;
        } else if (configured === undefined) {
          // The HEAD route Fastify adds for a GET route shares the GET route's limiter.
          const methods = (Array.isArray(route.method) ? route.method : [route.method])
            .map((m) => (m === 'HEAD' ? 'GET' : m))
            .sort()
            .join(',');
          const key = `${methods} ${route.url}`;
          limiter = byRoute.get(key) ?? createLimiter(info);
          if (!byRoute.has(key)) {
            byRoute.set(key, limiter);
            owned.push(limiter);
          }
        } else {
          throw new InvalidOptionError(
            `config.concurrencyLimit of ${route.url}`,
            'expected false or a ConcurrencyLimiter',
          );
        }
        const hook = limitHook(limiter, headers, body);
        const existing = route.onRequest;
        route.onRequest =
          existing === undefined
            ? [hook]
            : [hook, ...(Array.isArray(existing) ? existing : [existing])];
      });
      fastify.addHook('onClose', async () => {
        await Promise.all(owned.map((limiter) => limiter.close()));
      });
      done();
    },
    {
      [Symbol.for('skip-override')]: true,
      [Symbol.for('fastify.display-name')]: 'hotpath-concurrency-limit',
    },
  );

/** The route's `onRequest` hook: a slot now, a slot after a short wait, or a 503. */
function limitHook(
  limiter: ConcurrencyLimiter,
  headers: Record<string, string>,
  body: string,
): (request: FastifyRequest, reply: FastifyReply, next: () => void) => void {
  const refuse = (reply: FastifyReply): void => {
    void reply.code(503).headers(headers).send(body);
  };
  const hold = (reply: FastifyReply, permit: ConcurrencyPermit): void => {
    const raw = reply.raw;
    // 'close' comes once whether the response finished or the connection was lost first;
    // writableEnded, not writableFinished: inject()'s response never "finishes".
    raw.once('close', () => {
      permit.release(raw.writableEnded && raw.statusCode < 500 ? 'success' : 'ignore');
    });
  };
  return function concurrencyLimit(request, reply, next) {
    const permit = limiter.tryAcquire();
    if (permit !== undefined) {
      hold(reply, permit);
      next();
      return;
    }
    // Waits in the queue, or is refused by a rejected promise (counted among rejections).
    limiter.acquire().then(
      (queued) => {
        hold(reply, queued);
        next();
      },
      () => refuse(reply),
    );
  };
}
