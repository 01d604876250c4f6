import type {
  FastifyPluginCallback,
  FastifyReply,
  FastifyRequest,
  onRequestHookHandler,
} from 'fastify';
import { InvalidOptionError } from '../errors/index.js';
import type { RateLimitDecision } from './gcra.js';
import {
  checkHeaderMode,
  RateLimitHeaders,
  type RateLimitHeaderMode,
} from './rate-limit-headers.js';
import type { RateLimiter } from './rate-limiter.js';

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
  /** The policy's name in the `RateLimit-Policy` and `RateLimit` fields. @defaultValue `'default'` */
  policyName?: string;
  /** The fields of an allowed response: see {@link RateLimitHeaderMode}. @defaultValue `'limit'` */
  headers?: RateLimitHeaderMode;
}

/**
 * The 429 body: `{ code: 'RATE_LIMITED', message }`, the shape of every error the reference
 * service answers.
 */
export interface RateLimitedBody {
  code: 'RATE_LIMITED';
  message: string;
}

/**
 * Rate-limits requests in an `onRequest` hook: a request over its key's rate gets a 429
 * `{ code: 'RATE_LIMITED', message }` with `Retry-After` (seconds, rounded up) and the
 * `RateLimit-Policy` / `RateLimit` fields of draft-ietf-httpapi-ratelimit-headers (see
 * {@link RateLimitHeaders}); others go on, with the `RateLimit` field by default (see
 * {@link RateLimitHeaderMode}).
 * It applies to the routes of the scope it is registered in (it does not encapsulate). A
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
    } catch (error) {
      done(error as Error);
      return;
    }
    fastify.addHook('onRequest', hook);
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
  const limiter = options.limiter;
  if (
    limiter === null ||
    typeof limiter !== 'object' ||
    typeof limiter.take !== 'function' ||
    typeof limiter.policy !== 'object'
  )
    throw new InvalidOptionError('limiter', 'expected a RateLimiter');
  const keyOf = options.key ?? ((request: FastifyRequest) => request.ip);
  if (typeof keyOf !== 'function') throw new InvalidOptionError('key', 'expected a function');
  const cost = options.cost ?? 1;
  if (typeof cost !== 'number' && typeof cost !== 'function')
    throw new InvalidOptionError('cost', 'expected a number or a function');
  const skip = options.skip;
  if (skip !== undefined && typeof skip !== 'function')
    throw new InvalidOptionError('skip', 'expected a function');
  const headers = new RateLimitHeaders(limiter.policy, options.policyName);
  const policyValue = headers.policy;
  const mode = checkHeaderMode(options.headers);
  const withLimit = mode !== 'none';
  const withPolicy = mode === 'all';
  const sync = typeof limiter.takeSync === 'function';

  const answer = (decision: RateLimitDecision, reply: FastifyReply, done: () => void): void => {
    if (decision.allowed) {
      if (withPolicy) reply.header('RateLimit-Policy', policyValue);
      if (withLimit) reply.header('RateLimit', headers.limit(decision));
      done();
      return;
    }
    const retryAfter = headers.retryAfter(decision);
    const body: RateLimitedBody = {
      code: 'RATE_LIMITED',
      message: `rate limit exceeded: retry in ${retryAfter} s`,
    };
    void reply
      .code(429)
      .header('Retry-After', retryAfter)
      .header('RateLimit-Policy', policyValue)
      .header('RateLimit', headers.limit(decision))
      .send(body);
  };

  return function hotpathRateLimit(request, reply, done) {
    if (skip !== undefined && skip(request)) {
      done();
      return;
    }
    let decision: RateLimitDecision | Promise<RateLimitDecision>;
    try {
      const key = keyOf(request);
      const units = typeof cost === 'number' ? cost : cost(request);
      decision = sync ? limiter.takeSync!(key, units) : limiter.take(key, units);
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
