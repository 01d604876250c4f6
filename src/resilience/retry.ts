import { AbortedError } from '../errors/index.js';
import { checkNumber } from '../internal/validate-options.js';

/** Options of {@link retry}. */
export interface RetryOptions {
  /** Retries after the first attempt. Default 2. */
  retries?: number;
  /** Backoff base: attempt n waits up to `baseMs * 2^n`. Default 50 ms. */
  baseMs?: number;
  /** Longest wait between attempts. Default 5,000 ms. */
  maxMs?: number;
  /**
   * `full` (default): wait uniform in [0, backoff), which spreads retries of many callers best
   * (AWS Architecture Blog, "Exponential Backoff and Jitter"); `none`: wait exactly the backoff.
   */
  jitter?: 'full' | 'none';
  /** Whether an error is worth another attempt. Default: every error. */
  shouldRetry?: (error: unknown, attempt: number) => boolean;
  signal?: AbortSignal;
  /** Random source in [0, 1), injectable for tests. */
  random?: () => number;
  /** Called before each retry with the attempt number (1-based) and the wait. */
  onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new AbortedError(undefined, { cause: signal.reason }));
    const onAbort = () => {
      clearTimeout(timer);
      reject(new AbortedError(undefined, { cause: signal?.reason }));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Calls `fn` until it resolves, at most `retries + 1` times, waiting an exponential backoff
 * with jitter between attempts. Rethrows the last error, or one `shouldRetry` refused.
 * @throws {@link AbortedError} `HP_ERR_ABORTED` when `signal` aborts during a wait.
 * @example
 * const user = await retry((attempt) => api.getUser(id), { retries: 3, shouldRetry: isTransient });
 */
export async function retry<T>(
  fn: (attempt: number) => Promise<T>,
  options: RetryOptions = {},
): Promise<T> {
  const retries = checkNumber('retries', options.retries ?? 2, { min: 0, integer: true });
  const baseMs = checkNumber('baseMs', options.baseMs ?? 50, { min: 0 });
  const maxMs = checkNumber('maxMs', options.maxMs ?? 5000, { min: 0 });
  const random = options.random ?? Math.random;
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (error) {
      if (attempt >= retries || options.signal?.aborted) throw error;
      if (options.shouldRetry !== undefined && !options.shouldRetry(error, attempt)) throw error;
      const backoff = Math.min(maxMs, baseMs * 2 ** attempt);
      const delayMs = options.jitter === 'none' ? backoff : random() * backoff;
      options.onRetry?.(error, attempt + 1, delayMs);
      await sleep(delayMs, options.signal);
    }
  }
}
