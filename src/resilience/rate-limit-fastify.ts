import type {
  FastifyPluginCallback,
  FastifyReply,
  FastifyRequest,
  onRequestHookHandler,
  RouteOptions,
} from 'fastify';
import { InvalidOptionError } from '../errors/index.js';
import type { RateLimitDecision } from './gcra.js';
import type { RateLimitHeaderMode } from './rate-limit-headers.js';
import { RequestLimit } from './rate-limit-response.js';
import type { RateLimiter } from './rate-limiter.js';

export type { RateLimitedBody } from './rate-limit-response.js';

/** Options of {@link fastifyRateLimit}. */
export interface FastifyRateLimitOptions {
  /** The limiter deciding, local or Redis. Required. */
  limiter: RateLimiter;
  /** The bucket of a request. @defaultValue `request.ip` */
  key?: (request: FastifyRequest) => string;
  /** Units a request takes, or a function of the request. @defaultValue 1 */
  cost?: number | ((request: FastifyRequest) => number);
  /** Requests for which it returns true are not limited (and get no headers). */
  skip?: (request: FastifyRequest) => boolean;
  /**
   * The routes to limit, chosen once per route as it is declared: the hook is added to those
   * routes alone, and the others run no hook of it (an `onRequest` hook costs Fastify CPU on
   * every request of a route, even one that returns at once: bench/service/overhead.bench.ts).
   * Only routes declared after the plugin are seen. @defaultValue every route of the scope
   */
  routes?: (route: { method: string | string[]; url: string }) => boolean;
  /** The policy's name in the `RateLimit-Policy` and `RateLimit` fields. @defaultValue `'default'` */
  policyName?: string;
  /** The fields of an allowed response: see {@link RateLimitHeaderMode}. @defaultValue `'limit'` */
  headers?: RateLimitHeaderMode;
}

/**
 * Rate-limits requests in an `onRequest` hook: a request over its key's rate gets a 429
 * `{ code: 'RATE_LIMITED', message }` with `Retry-After` (seconds, rounded up) and the
 * `RateLimit-Policy` / `RateLimit` fields of draft-ietf-httpapi-ratelimit-headers (see
 * {@link RateLimitHeaders}); others go on, with the `RateLimit` field by default (see
 * {@link RateLimitHeaderMode}).
 * It applies to the routes of the scope it is registered in (it does not encapsulate), or
 * with `routes` to the routes it picks as they are declared. A
 * limiter that decides synchronously ({@link LocalRateLimiter}) adds no promise to a
 * request. An error from `key`, `cost` or the limiter (a cost above the burst) fails the
 * request as any hook error does.
 * @example
 * ```ts
 * const limiter = new RedisRateLimiter({ client: redis, rate: { limit: 100, periodMs: 60_000 } });
 * await app.register(fastifyRateLimit, {
 *   limiter,
 *   key: (request) => request.headers['x-api-key']?.toString() ?? request.ip,
 *   skip: (request) => request.url.startsWith('/health'),
 * });
 * ```
 */
export const fastifyRateLimit: FastifyPluginCallback<FastifyRateLimitOptions> = Object.assign(
  function fastifyRateLimit(
    fastify: Parameters<FastifyPluginCallback<FastifyRateLimitOptions>>[0],
    options: FastifyRateLimitOptions,
    done: (err?: Error) => void,
  ): void {
    let hook: onRequestHookHandler;
    try {
      hook = rateLimitHook(options);
      if (options.routes !== undefined && typeof options.routes !== 'function')
        throw new InvalidOptionError('routes', 'expected a function of the route');
    } catch (error) {
      done(error as Error);
      return;
    }
    const routes = options.routes;
    if (routes === undefined) {
      fastify.addHook('onRequest', hook);
    } else {
      fastify.addHook('onRoute', (route: RouteOptions) => {
        if (!routes({ method: route.method, url: route.url })) return;
        const hooks = route.onRequest === undefined ? [] : [route.onRequest].flat();
        if (!hooks.includes(hook)) route.onRequest = [hook, ...hooks];
      });
    }
    done();
  },
  {
    [Symbol.for('skip-override')]: true,
    [Symbol.for('fastify.display-name')]: 'hotpath-rate-limit',
  },
);

function rateLimitHook(options: FastifyRateLimitOptions): onRequestHookHandler {
  if (options === null || typeof options !== 'object')
    throw new InvalidOptionError('limiter', 'expected options with a limiter');
  const limit = new RequestLimit<FastifyRequest>(options.limiter, options, (request) => request.ip);
  const skip = limit.skip;
  const sync = limit.isSync;

  const answer = (decision: RateLimitDecision, reply: FastifyReply, done: () => void): void => {
    if (decision.allowed) {
      limit.allow(decision, (name, value) => reply.header(name, value));
      done();
      return;
    }
    const { body, fields } = limit.refuse(decision);
    void reply.code(429).headers(fields).send(body);
  };

  return function hotpathRateLimit(request, reply, done) {
    if (skip !== undefined && skip(request)) {
      done();
      return;
    }
    let decision: RateLimitDecision | Promise<RateLimitDecision>;
    try {
      decision = limit.decide(request);
    } catch (error) {
      done(error as Error);
      return;
    }
    if (sync) answer(decision as RateLimitDecision, reply, done);
    else
      (decision as Promise<RateLimitDecision>).then(
        (d) => answer(d, reply, done),
        (error: Error) => done(error),
      );
  };
}
