/** Codes thrown by hotpath/cache. */
export const cacheCodes = {
  HP_ERR_CACHE_LOADER: 'The factory of getOrSet failed and no stale value could be served.',
  HP_ERR_CACHE_TIMEOUT: 'The factory of getOrSet ran past hardTimeoutMs.',
  HP_ERR_CACHE_SERIALIZE: 'A value could not be serialized for, or read back from, the L2 tier.',
  HP_ERR_CACHE_FLUSH: 'close() could not flush acknowledged write-behind entries to L2.',
} as const satisfies Record<`HP_ERR_${string}`, string>;
