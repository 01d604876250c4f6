import { InvalidOptionError } from '../errors/index.js';
import type { RateLimitDecision } from './gcra.js';
import {
  checkHeaderMode,
  RateLimitHeaders,
  type RateLimitHeaderMode,
} from './rate-limit-headers.js';
import type { RateLimiter } from './rate-limiter.js';

/**
 * The 429 body: `{ code: 'RATE_LIMITED', message }`, the shape of every error the reference
 * service answers.
 */
export interface RateLimitedBody {
  code: 'RATE_LIMITED';
  message: string;
}

/** The options {@link fastifyRateLimit} and {@link rateLimitHttp} share, for request type `R`. */
export interface RequestLimitOptions<R> {
  key?: (req: R) => string;
  cost?: number | ((req: R) => number);
  skip?: (req: R) => boolean;
  policyName?: string;
  headers?: RateLimitHeaderMode;
}

/** A 429 answer: its body and its fields. */
export interface RateLimitRefusal {
  body: RateLimitedBody;
  fields: { 'Retry-After': string; 'RateLimit-Policy': string; RateLimit: string };
}

/**
 * What the Fastify plugin and the `node:http` helper do alike: check the options, take the
 * decision for a request, and give the fields of an allowed response and the whole 429 of a
 * refused one. Each adapter only writes them its server's way. Internal, not exported.
 */
export class RequestLimit<R> {
  readonly limiter: RateLimiter;
  /** Whether the limiter decides synchronously (`takeSync`): no promise per request. */
  readonly isSync: boolean;
  readonly skip: ((req: R) => boolean) | undefined;
  readonly #keyOf: (req: R) => string;
  readonly #cost: number | ((req: R) => number);
  readonly #headers: RateLimitHeaders;
  readonly #withLimit: boolean;
  readonly #withPolicy: boolean;

  /** @throws {@link InvalidOptionError} `HP_ERR_INVALID_OPTION` naming a bad option. */
  constructor(limiter: unknown, options: RequestLimitOptions<R>, defaultKey: (req: R) => string) {
    const l = limiter as Partial<RateLimiter> | null;
    if (
      l === null ||
      typeof l !== 'object' ||
      typeof l.take !== 'function' ||
      typeof l.policy !== 'object'
    )
      throw new InvalidOptionError('limiter', 'expected a RateLimiter');
    this.limiter = l as RateLimiter;
    this.isSync = typeof l.takeSync === 'function';
    const keyOf = options.key ?? defaultKey;
    if (typeof keyOf !== 'function') throw new InvalidOptionError('key', 'expected a function');
    this.#keyOf = keyOf;
    const cost = options.cost ?? 1;
    if (typeof cost !== 'number' && typeof cost !== 'function')
      throw new InvalidOptionError('cost', 'expected a number or a function');
    this.#cost = cost;
    const skip = options.skip;
    if (skip !== undefined && typeof skip !== 'function')
      throw new InvalidOptionError('skip', 'expected a function');
    this.skip = skip;
    this.#headers = new RateLimitHeaders(this.limiter.policy, options.policyName);
    const mode = checkHeaderMode(options.headers);
    this.#withLimit = mode !== 'none';
    this.#withPolicy = mode === 'all';
  }

  /** The decision for `req`, synchronous when {@link isSync}. Throws what `key` or `cost` throws. */
  decide(req: R): RateLimitDecision | Promise<RateLimitDecision> {
    const key = this.#keyOf(req);
    const cost = this.#cost;
    const units = typeof cost === 'number' ? cost : cost(req);
    return this.isSync ? this.limiter.takeSync!(key, units) : this.limiter.take(key, units);
  }

  /** Sets the fields of an allowed response through `set`, as the header mode says. */
  allow(decision: RateLimitDecision, set: (name: string, value: string) => void): void {
    if (this.#withPolicy) set('RateLimit-Policy', this.#headers.policy);
    if (this.#withLimit) set('RateLimit', this.#headers.limit(decision));
  }

  /** The 429 of a refused decision. */
  refuse(decision: RateLimitDecision): RateLimitRefusal {
    const headers = this.#headers;
    const retryAfter = headers.retryAfter(decision);
    return {
      body: { code: 'RATE_LIMITED', message: `rate limit exceeded: retry in ${retryAfter} s` },
      fields: {
        'Retry-After': retryAfter,
        'RateLimit-Policy': headers.policy,
        RateLimit: headers.limit(decision),
      },
    };
  }
}
