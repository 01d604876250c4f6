/** Codes of hotpath/load. */
export const loadCodes = {
  HP_ERR_LOAD_WORKER_FAILED:
    'A worker thread of a multi-worker load test crashed or exited before reporting its result.',
  HP_ERR_LOAD_MERGE_MISMATCH:
    'Load results to merge disagree on their histogram layout or time base (latency unit or origin).',
} as const satisfies Record<`HP_ERR_${string}`, string>;
