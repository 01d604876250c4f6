import { AbortedError } from '../errors/index.js';
import { checkNumber } from '../internal/validate-options.js';
import { TimeoutError } from './errors.js';

/**
 * Runs `fn` with a signal that aborts after `timeoutMs` (or when `signal` aborts) and rejects
 * at that moment, whether or not `fn` honours the signal.
 * @throws {@link TimeoutError} `HP_ERR_TIMEOUT` when the time runs out.
 * @throws {@link AbortedError} `HP_ERR_ABORTED` when `signal` aborts first.
 * @example
 * const body = await withTimeout((signal) => fetch(url, { signal }), 500);
 */
export function withTimeout<T>(
  fn: (signal: AbortSignal) => Promise<T>,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<T> {
  checkNumber('timeoutMs', timeoutMs, { min: 0 });
  if (signal?.aborted) return Promise.reject(new AbortedError(undefined, { cause: signal.reason }));
  const controller = new AbortController();
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      controller.abort(signal?.reason);
      finish(() => reject(new AbortedError(undefined, { cause: signal?.reason })));
    };
    const timer = setTimeout(() => {
      const error = new TimeoutError(timeoutMs);
      controller.abort(error);
      finish(() => reject(error));
    }, timeoutMs);
    let done = false;
    const finish = (settle: () => void) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      settle();
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    fn(controller.signal).then(
      (value) => finish(() => resolve(value)),
      (error: unknown) => finish(() => reject(error)),
    );
  });
}
