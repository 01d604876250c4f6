/** Codes of hotpath/concurrency. */
export const concurrencyCodes = {
  HP_ERR_POOL_QUEUE_FULL:
    'A worker pool refused a task: every thread was busy and its bounded queue was full.',
} as const satisfies Record<`HP_ERR_${string}`, string>;
