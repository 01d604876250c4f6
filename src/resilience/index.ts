/**
 * @module hotpath/resilience
 * Policies that keep a service up when a dependency is not, and protect it when it is
 * overloaded: a circuit breaker (failure-rate and slow-call thresholds), a bulkhead, an
 * adaptive concurrency limit (gradient), a cooperative timeout, retry with backoff, jitter,
 * a retry budget and a deadline, composed with `wrap()`; a GCRA rate limiter that decides
 * the same in process and on Redis (Fastify plugin, node:http helper, IETF RateLimit
 * fields); and load shedding by route priority on event-loop pressure. It does not queue
 * work across processes or balance load between instances.
 */
export { CircuitBreaker } from './circuit-breaker.js';
export type { CircuitBreakerOptions, CircuitState, CircuitStateChange } from './circuit-breaker.js';
export { Bulkhead } from './bulkhead.js';
export type { BulkheadOptions } from './bulkhead.js';
export { withTimeout } from './timeout.js';
export { retry } from './retry.js';
export type { RetryOptions } from './retry.js';
export { CircuitOpenError, BulkheadFullError, TimeoutError } from './errors.js';
export { LocalRateLimiter } from './rate-limiter.js';
export { RateLimitBucket } from './rate-limit-bucket.js';
export type {
  RateLimiter,
  RateLimiterStats,
  LocalRateLimiterOptions,
  RateLimitedMessage,
} from './rate-limiter.js';
export { RedisRateLimiter } from './redis-rate-limiter.js';
export type {
  RedisRateLimiterOptions,
  RedisRateLimiterStats,
  RateLimitFailPolicy,
  RateLimitErrorMessage,
} from './redis-rate-limiter.js';
export type { Rate, RateLimitPolicy, RateLimitDecision, RateLimitSource } from './gcra.js';
export { RateLimitHeaders } from './rate-limit-headers.js';
export type { RateLimitHeaderMode } from './rate-limit-headers.js';
export { fastifyRateLimit } from './rate-limit-fastify.js';
export type { FastifyRateLimitOptions, RateLimitedBody } from './rate-limit-fastify.js';
export { rateLimitHttp } from './rate-limit-http.js';
export type { RateLimitHttpOptions } from './rate-limit-http.js';
export { registerRateLimitMetrics } from './rate-limit-metrics.js';
export type { RateLimitMetricsOptions } from './rate-limit-metrics.js';
export { RateLimitedError, RateLimitCostError } from './errors.js';
export { Timeout } from './timeout.js';
export type { TimeoutOptions, TimeoutStats, TimeoutEvent } from './timeout.js';
export { Retry } from './retry.js';
export type { RetryStats, RetryEvent } from './retry.js';
export { RetryBudget } from './retry-budget.js';
export type { RetryBudgetOptions, RetryBudgetStats } from './retry-budget.js';
export { wrap } from './wrap.js';
export type { Policy, PolicyContext, PolicyLike } from './policy.js';
export { DeadlineExceededError } from './errors.js';
export { LoadShedder, SHED_PRIORITIES } from './load-shedder.js';
export type {
  LoadShedderOptions,
  LoadShedderStats,
  ShedPriority,
  ShedStateChange,
} from './load-shedder.js';
export { EventLoopSampler } from './shed-sampler.js';
export type { LoopSampler, LoopSample, EventLoopSamplerOptions } from './shed-sampler.js';
export { fastifyLoadShedder } from './load-shedder-fastify.js';
export type { FastifyLoadShedderOptions, ShedRouteInfo } from './load-shedder-fastify.js';
export { shedHttp } from './load-shedder-http.js';
export type { ShedHttpOptions } from './load-shedder-http.js';
export { ConcurrencyLimiter } from './concurrency-limiter.js';
export type {
  ConcurrencyLimiterOptions,
  ConcurrencyLimiterStats,
  ConcurrencyPermit,
  ConcurrencyLimitChange,
  PermitOutcome,
} from './concurrency-limiter.js';
export { GradientLimit } from './adaptive-gradient.js';
export type { GradientLimitOptions } from './adaptive-gradient.js';
export type { LimitAlgorithm, LimitSample } from './adaptive-limit.js';
export { fastifyConcurrencyLimit } from './concurrency-limit-fastify.js';
export type {
  FastifyConcurrencyLimitOptions,
  LimitRouteInfo,
} from './concurrency-limit-fastify.js';
export { ConcurrencyLimitError } from './errors.js';
