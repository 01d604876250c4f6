import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RateLimitDecision } from './gcra.js';
import type { RateLimitHeaderMode } from './rate-limit-headers.js';
import { RequestLimit } from './rate-limit-response.js';
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
  const limit = new RequestLimit<IncomingMessage>(
    limiter,
    options,
    (req) => req.socket.remoteAddress ?? '',
  );
  const skip = limit.skip;

  return async (req, res) => {
    if (skip !== undefined && skip(req)) return true;
    const pending = limit.decide(req);
    // A synchronous limiter's decision is used as is: no promise tick per request.
    const decision = limit.isSync ? (pending as RateLimitDecision) : await pending;
    if (decision.allowed) {
      limit.allow(decision, (name, value) => res.setHeader(name, value));
      return true;
    }
    const { body, fields } = limit.refuse(decision);
    const json = JSON.stringify(body);
    res.writeHead(429, {
      'Content-Type': 'application/json; charset=utf-8',
      'Content-Length': Buffer.byteLength(json),
      ...fields,
    });
    res.end(json);
    return false;
  };
}
