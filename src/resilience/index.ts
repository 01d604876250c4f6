/**
 * @module hotpath/resilience
 * Policies that keep a service up when a dependency is not: a circuit breaker (failure-rate
 * and slow-call thresholds), a bulkhead (bounded concurrency and queue), a timeout that
 * aborts, and retry with exponential backoff and jitter. Each is a small object or function
 * that wraps an async call; compose them by nesting. It does not do rate limiting or load
 * shedding yet.
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
