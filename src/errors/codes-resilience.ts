/** Codes of hotpath/resilience. */
export const resilienceCodes = {
  HP_ERR_CIRCUIT_OPEN: 'The circuit breaker is open and refused the call without running it.',
  HP_ERR_BULKHEAD_FULL: 'The bulkhead has no free slot and its queue is full.',
  HP_ERR_TIMEOUT: 'The operation did not finish within its time limit.',
  HP_ERR_RATE_LIMITED: 'A rate limiter refused the call: the caller is over its rate.',
  HP_ERR_RATE_LIMIT_COST:
    'A rate-limit decision asked for a cost that is not a whole number in [0, burst].',
  HP_ERR_DEADLINE_EXCEEDED:
    'The overall deadline of a call, across its attempts and the waits between them, passed.',
  HP_ERR_CONCURRENCY_LIMIT:
    'An adaptive concurrency limiter refused the call: its limit and queue were full, or the wait timed out.',
} as const satisfies Record<`HP_ERR_${string}`, string>;
