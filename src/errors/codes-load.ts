/** Codes of hotpath/load. */
export const loadCodes = {
  HP_ERR_LOAD_WORKER_FAILED:
    'A worker thread of a multi-worker load test crashed or exited before reporting its result.',
} as const;
