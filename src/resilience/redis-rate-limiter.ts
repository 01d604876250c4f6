import { channel } from 'node:diagnostics_channel';
import type { Redis } from 'ioredis';
import { ClosedError, InvalidOptionError } from '../errors/index.js';
import type { Clock } from '../internal/clock.js';
import { checkNumber } from '../internal/validate-options.js';
import { RateLimitedError } from './errors.js';
import {
  checkCost,
  resolvePolicy,
  toDecision,
  toMicros,
  type Rate,
  type RateLimitDecision,
  type RateLimitPolicy,
} from './gcra.js';
import {
  LocalRateLimiter,
  limitedChannel,
  type RateLimitedMessage,
  type RateLimiter,
  type RateLimiterStats,
} from './rate-limiter.js';
import { defaultLimiterClock } from './rate-limiter-clock.js';
import { ScriptCalls, type Pending } from './redis-rate-limiter-calls.js';

/**
 * What to do when Redis cannot decide (not connected, an error, or no answer within
 * `timeoutMs`): `'open'` allows, `'closed'` refuses, `'local'` asks a {@link LocalRateLimiter}
 * in this process.
 */
export type RateLimitFailPolicy = 'open' | 'closed' | 'local';

/** Options of {@link RedisRateLimiter}. */
export interface RedisRateLimiterOptions {
  /** An ioredis client you own and connect (the limiter never closes it). Required. */
  client: Redis;
  /** Units per second, or `{ limit, periodMs }`. Required. At most 1,000,000 a second. */
  rate: Rate;
  /** Most units granted at once from a full bucket. @defaultValue the rate's `limit` */
  burst?: number;
  /** Prepended to every key in Redis. @defaultValue `'hotpath:rl:'` */
  prefix?: string;
  /** A batch Redis has not answered within this many ms is decided by `failPolicy`. @defaultValue 100 */
  timeoutMs?: number;
  /** After a failure, Redis is left alone (decisions go to `failPolicy`) for this many ms. @defaultValue 1000 */
  retryMs?: number;
  /** See {@link RateLimitFailPolicy}. @defaultValue `'local'` */
  failPolicy?: RateLimitFailPolicy;
  /** The limiter of `failPolicy: 'local'`. @defaultValue a {@link LocalRateLimiter} with the same rate and burst */
  fallback?: LocalRateLimiter;
  /** Most decisions in one script call; more go in further calls of the same turn. @defaultValue 128 */
  maxBatch?: number;
  /**
   * Whose clock decides: `'redis'` (the server's TIME, so processes with skewed clocks
   * agree) or `'client'` (this process's `clock`, sent with each decision: for tests and
   * replays, as it makes processes with skewed clocks disagree). @defaultValue `'redis'`
   */
  time?: 'redis' | 'client';
  /** Milliseconds clock, for `retryMs` and `time: 'client'`. @defaultValue `performance.now()` read at most once a millisecond */
  clock?: Clock;
  /** Name in diagnostics messages and metrics. @defaultValue `'redis'` */
  name?: string;
}

/** Counters of a {@link RedisRateLimiter}. */
export interface RedisRateLimiterStats extends RateLimiterStats {
  /** Script calls that got no answer within `timeoutMs` (also counted in `redisErrors`). */
  timeouts: number;
  /** SCRIPT LOADs sent: one at the start, one more after each NOSCRIPT. */
  scriptLoads: number;
}

/** A failure to reach Redis, published on `hotpath:resilience:rate-limit-error` when it has subscribers. */
export interface RateLimitErrorMessage {
  name: string;
  error: unknown;
  /** Decisions the failure sent to the fail policy. */
  decisions: number;
}

const errorChannel = channel('hotpath:resilience:rate-limit-error');

/**
 * A GCRA rate limiter shared by every process on one Redis: the decision of
 * {@link LocalRateLimiter}, made by one atomic script on the server's clock. Decisions asked
 * for in the same event-loop turn go in one script call (up to `maxBatch` keys each), so a
 * decision costs one round trip shared with its turn. The script is called by hash
 * (EVALSHA), loaded once with SCRIPT LOAD and loaded again on NOSCRIPT (after a flush or a
 * failover). When Redis is down, slow or failing, `failPolicy` decides at once, and Redis is
 * tried again after `retryMs`.
 * @example
 * const limiter = new RedisRateLimiter({ client: redis, rate: 100, burst: 200, failPolicy: 'local' });
 * const decision = await limiter.take(`ip:${ip}`);
 * if (!decision.allowed) reply.code(429).header('Retry-After', Math.ceil(decision.retryAfterMs / 1000));
 */
export class RedisRateLimiter implements RateLimiter {
  readonly policy: RateLimitPolicy;
  readonly #client: Redis;
  readonly #retryMs: number;
  readonly #failPolicy: RateLimitFailPolicy;
  readonly #fallback: LocalRateLimiter | undefined;
  readonly #clientTime: boolean;
  readonly #clock: Clock;
  readonly #name: string;
  readonly #ownsFallback: boolean;
  readonly #calls: ScriptCalls;
  #downUntil = -Infinity;
  #closed = false;

  #allowed = 0;
  #limited = 0;
  #redisErrors = 0;
  #timeouts = 0;
  #fallbacks = 0;

  /** @throws {@link InvalidOptionError} `HP_ERR_INVALID_OPTION` naming a bad option. */
  constructor(options: RedisRateLimiterOptions) {
    if (options === null || typeof options !== 'object')
      throw new InvalidOptionError('client', 'expected options with a client and a rate');
    const client = options.client;
    if (client === null || typeof client !== 'object' || typeof client.call !== 'function')
      throw new InvalidOptionError('client', 'expected an ioredis client');
    this.#client = client;
    this.policy = resolvePolicy(options.rate, options.burst);
    const prefix = options.prefix ?? 'hotpath:rl:';
    if (typeof prefix !== 'string') throw new InvalidOptionError('prefix', 'expected a string');
    const timeoutMs = checkNumber('timeoutMs', options.timeoutMs ?? 100, { min: 1 });
    this.#retryMs = checkNumber('retryMs', options.retryMs ?? 1000, { min: 0 });
    const failPolicy = options.failPolicy ?? 'local';
    if (failPolicy !== 'open' && failPolicy !== 'closed' && failPolicy !== 'local')
      throw new InvalidOptionError(
        'failPolicy',
        `expected "open", "closed" or "local", got ${String(failPolicy)}`,
      );
    this.#failPolicy = failPolicy;
    if (options.fallback !== undefined && !(options.fallback instanceof LocalRateLimiter))
      throw new InvalidOptionError('fallback', 'expected a LocalRateLimiter');
    this.#clock = options.clock ?? defaultLimiterClock;
    if (typeof this.#clock.now !== 'function')
      throw new InvalidOptionError('clock', 'expected an object with now()');
    this.#ownsFallback = failPolicy === 'local' && options.fallback === undefined;
    this.#fallback =
      failPolicy !== 'local'
        ? undefined
        : (options.fallback ??
          new LocalRateLimiter({
            rate: { limit: this.policy.limit, periodMs: this.policy.periodMs },
            burst: this.policy.burst,
            clock: this.#clock,
            name: `${options.name ?? 'redis'}:fallback`,
          }));
    const maxBatch = checkNumber('maxBatch', options.maxBatch ?? 128, {
      min: 1,
      max: 10_000,
      integer: true,
    });
    const time = options.time ?? 'redis';
    if (time !== 'redis' && time !== 'client')
      throw new InvalidOptionError('time', `expected "redis" or "client", got ${String(time)}`);
    this.#clientTime = time === 'client';
    this.#name = options.name ?? 'redis';
    this.#calls = new ScriptCalls({
      client,
      prefix,
      policy: this.policy,
      clientTime: this.#clientTime,
      maxBatch,
      timeoutMs,
      usable: () => this.#usable(),
      decided: (p, outcome) => this.#decided(p, outcome),
      failed: (pending, error, timedOut) => this.#failed(pending, error, timedOut),
    });
  }

  /**
   * Asks for `cost` units (default 1) of `key`'s bucket; resolves once Redis (or, when it
   * cannot, the fail policy) decided. Never rejects for a Redis failure.
   * @throws {@link RateLimitCostError} `HP_ERR_RATE_LIMIT_COST` and {@link ClosedError}
   * `HP_ERR_CLOSED`, as rejections.
   */
  take(key: string, cost = 1): Promise<RateLimitDecision> {
    if (this.#closed) return Promise.reject(new ClosedError('rate limiter'));
    if (cost !== 1) {
      try {
        checkCost(cost, this.policy);
      } catch (error) {
        return Promise.reject(error);
      }
    }
    if (!this.#usable()) return Promise.resolve(this.#failDecision(key, cost));
    return this.#calls.enqueue(key, cost, this.#clientTime ? toMicros(this.#clock.now()) : 0);
  }

  /** @throws {@link RateLimitedError} `HP_ERR_RATE_LIMITED` when refused. */
  async execute<T>(key: string, fn: () => Promise<T>, cost = 1): Promise<T> {
    const decision = await this.take(key, cost);
    if (!decision.allowed) throw new RateLimitedError(decision.retryAfterMs);
    return fn();
  }

  stats(): RedisRateLimiterStats {
    return {
      allowed: this.#allowed,
      limited: this.#limited,
      redisErrors: this.#redisErrors,
      fallbacks: this.#fallbacks,
      timeouts: this.#timeouts,
      scriptLoads: this.#calls.loads,
    };
  }

  /**
   * Decides what is queued by the fail policy, and refuses further decisions with
   * {@link ClosedError}. Batches in flight settle when Redis answers or times out. The
   * client, and a `fallback` passed in, stay open: they are the caller's.
   */
  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    for (const p of this.#calls.drain()) p.resolve(this.#failDecision(p.key, p.cost));
    return this.#ownsFallback ? this.#fallback!.close() : Promise.resolve();
  }

  #usable(): boolean {
    return this.#client.status === 'ready' && this.#clock.now() >= this.#downUntil;
  }

  #decided(p: Pending, outcome: number): void {
    const decision = toDecision(outcome, p.cost, this.policy, 'redis');
    if (decision.allowed) this.#allowed++;
    else this.#onLimited(p, decision);
    p.resolve(decision);
  }

  /** `error` undefined: the decisions were never sent, Redis being left alone. */
  #failed(pending: readonly Pending[], error: unknown, timedOut: boolean): void {
    if (error !== undefined) {
      this.#redisErrors++;
      if (timedOut) this.#timeouts++;
      this.#downUntil = this.#clock.now() + this.#retryMs;
      if (errorChannel.hasSubscribers) {
        const message: RateLimitErrorMessage = {
          name: this.#name,
          error,
          decisions: pending.length,
        };
        errorChannel.publish(message);
      }
    }
    for (const p of pending) p.resolve(this.#failDecision(p.key, p.cost));
  }

  #failDecision(key: string, cost: number): RateLimitDecision {
    this.#fallbacks++;
    const policy = this.policy;
    let decision: RateLimitDecision;
    if (this.#fallback !== undefined) {
      const local = this.#fallback.takeSync(key, cost);
      decision = { ...local, source: 'fallback' };
    } else if (this.#failPolicy === 'open') {
      decision = {
        allowed: true,
        remaining: policy.burst,
        retryAfterMs: 0,
        resetMs: 0,
        source: 'fail-open',
      };
    } else {
      // Until Redis is tried again; while the client is not connected, one retryMs.
      const left = this.#downUntil - this.#clock.now();
      const wait = Math.max(left > 0 ? left : this.#retryMs, policy.intervalUs / 1000);
      decision = {
        allowed: false,
        remaining: 0,
        retryAfterMs: wait,
        resetMs: wait,
        source: 'fail-closed',
      };
    }
    if (decision.allowed) this.#allowed++;
    // The fallback limiter published its own refusal (named `<name>:fallback`).
    else if (decision.source === 'fallback') this.#limited++;
    else this.#onLimited({ key, cost }, decision);
    return decision;
  }

  #onLimited(p: { key: string; cost: number }, decision: RateLimitDecision): void {
    this.#limited++;
    if (limitedChannel.hasSubscribers) {
      const message: RateLimitedMessage = { name: this.#name, key: p.key, cost: p.cost, decision };
      limitedChannel.publish(message);
    }
  }
}
