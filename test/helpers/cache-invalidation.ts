/**
 * Waiting for a cache to apply another instance's invalidation, through the
 * `hotpath:cache:invalidation` diagnostics channel the cache publishes on.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { Cache } from 'hotpath/cache';

/**
 * Resolves when `cache` (or, without one, any cache in this process) applies another
 * instance's invalidation of `subject`.
 */
export function invalidationSeen(cache: Cache | undefined, subject: string): Promise<void> {
  return new Promise((resolve) => {
    const onMessage = (message: unknown): void => {
      const m = message as { cache: Cache; subject: string };
      if ((cache !== undefined && m.cache !== cache) || m.subject !== subject) return;
      unsubscribe('hotpath:cache:invalidation', onMessage);
      resolve();
    };
    subscribe('hotpath:cache:invalidation', onMessage);
  });
}
