/** Codes thrown by hotpath/profile. */
export const profileCodes = {
  HP_ERR_PROFILE_BUSY: 'A profile of the same kind is already running; only one runs at a time.',
  HP_ERR_PROFILE_SNAPSHOT_REFUSED:
    'A heap snapshot was refused because its estimated memory or pause cost is too high.',
  HP_ERR_PROFILE_WORKER_NOT_FOUND: 'No running worker thread has the requested name.',
  HP_ERR_PROFILE_UNAUTHORIZED: 'A profiling request lacked the bearer token or sent a wrong one.',
  HP_ERR_PROFILE_FORBIDDEN:
    'A profiling request came from a non-loopback or proxied address with no token configured.',
  HP_ERR_PROFILE_REQUEST: 'A profiling request had a bad query parameter.',
  HP_ERR_PROFILE_DECODE: 'A profile file is neither a pprof protobuf nor a .cpuprofile.',
} as const satisfies Record<`HP_ERR_${string}`, string>;
