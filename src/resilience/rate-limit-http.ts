import type { IncomingMessage, ServerResponse } from 'node:http';
import { InvalidOptionError } from '../errors/index.js';
import {
  checkHeaderMode,
  RateLimitHeaders,
  type RateLimitHeaderMode,
} from './rate-limit-headers.js';
import type { RateLimiter } from './rate-limiter.js';

/** Options of {@link rateLimitHttp}. */
export interface RateLimitHttpOptions {
  /** The bucket of a request. @defaultValue the client's address (`req.socket.remoteAddress`) */
  key?: (req: IncomingMessage) => string;
  /** Units a request takes, or a function of the request. @defaultValue 1 */
  cost?: number | ((req: IncomingMessage) => number);
  /** Requests for which it returns true are not limited (and get no headers). */
  skip?: (req: IncomingMessage) => boolean;
  /** The policy's name in the `RateLimit-Policy` and `RateLimit` fields. @defaultValue `'default'` */
  policyName?: string;
  /** The fields of an allowed response: see {@link RateLimitHeaderMode}. @defaultValue `'limit'` */
  headers?: RateLimitHeaderMode;
}

/**
 * Rate-limiting for a plain `node:http` server: the returned function decides for a request
 * and resolves true when the handler may go on (having set the `RateLimit` field, see
 * {@link RateLimitHeaders} and {@link RateLimitHeaderMode}), or answers the request itself
 * with a 429 `{ code: 'RATE_LIMITED', message }`, `Retry-After`, `RateLimit` and
 * `RateLimit-Policy`, and resolves false.
 * It rejects when `key` or `cost` throws or the limiter rejects (a cost above the burst).
 * @throws {@link InvalidOptionError} `HP_ERR_INVALID_OPTION` naming a bad option.
 * @example
 * ```ts
 * const limit = rateLimitHttp(new LocalRateLimiter({ rate: 50, burst: 100 }));
 * http.createServer(async (req, res) => {
 *   if (!(await limit(req, res))) return;
 *   res.end('ok');
 * });
 * ```
 */
export function rateLimitHttp(
  limiter: RateLimiter,
  options: RateLimitHttpOptions = {},
): (req: IncomingMessage, res: ServerResponse) => Promise<boolean> {
  if (
    limiter === null ||
    typeof limiter !== 'object' ||
    typeof limiter.take !== 'function' ||
    typeof limiter.policy !== 'object'
  )
    throw new InvalidOptionError('limiter', 'expected a RateLimiter');
  const keyOf = options.key ?? ((req: IncomingMessage) => req.socket.remoteAddress ?? '');
  if (typeof keyOf !== 'function') throw new InvalidOptionError('key', 'expected a function');
  const cost = options.cost ?? 1;
  if (typeof cost !== 'number' && typeof cost !== 'function')
    throw new InvalidOptionError('cost', 'expected a number or a function');
  const skip = options.skip;
  if (skip !== undefined && typeof skip !== 'function')
    throw new InvalidOptionError('skip', 'expected a function');
  const headers = new RateLimitHeaders(limiter.policy, options.policyName);
  const mode = checkHeaderMode(options.headers);

  return async (req, res) => {
    if (skip !== undefined && skip(req)) return true;
    const key = keyOf(req);
    const units = typeof cost === 'number' ? cost : cost(req);
    const decision =
      limiter.takeSync !== undefined
        ? limiter.takeSync(key, units)
        : await limiter.take(key, units);
    if (decision.allowed) {
      if (mode === 'all') res.setHeader('RateLimit-Policy', headers.policy);
      if (mode !== 'none') res.setHeader('RateLimit', headers.limit(decision));
      return true;
    }
    const retryAfter = headers.retryAfter(decision);
    const body = JSON.stringify({
      code: 'RATE_LIMITED',
      message: `rate limit exceeded: retry in ${retryAfter} s`,
    });
    res.writeHead(429, {
      'Content-Type': 'application/json; charset=utf-8',
      'Content-Length': Buffer.byteLength(body),
      'Retry-After': retryAfter,
      'RateLimit-Policy': headers.policy,
      RateLimit: headers.limit(decision),
    });
    res.end(body);
    return false;
  };
}
