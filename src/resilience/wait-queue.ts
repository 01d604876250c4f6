import { AbortedError } from '../errors/index.js';

interface Waiter<T> {
  resolve: (value: T) => void;
  reject: (error: unknown) => void;
  timer: ReturnType<typeof setTimeout> | undefined;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

/**
 * The FIFO of calls waiting for a slot that {@link Bulkhead} and {@link ConcurrencyLimiter}
 * share: a waiter leaves it when its owner hands it a slot ({@link admitNext}), when its
 * signal aborts (rejected with `AbortedError`, `HP_ERR_ABORTED`, the signal's reason as its
 * cause) or when its wait times out (rejected with what `onTimeout` returns). Either way its
 * timer and its abort listener go with it. Internal, not exported from the module.
 */
export class WaitQueue<T> {
  readonly #waiters: Waiter<T>[] = [];

  /** Calls waiting. */
  get length(): number {
    return this.#waiters.length;
  }

  /**
   * Queues a call: resolves with what {@link admitNext} hands it.
   * @param timeoutMs Longest wait; `undefined` for none.
   * @param onTimeout The error a call that waited `timeoutMs` is rejected with.
   */
  wait(signal?: AbortSignal, timeoutMs?: number, onTimeout?: () => unknown): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const waiter: Waiter<T> = { resolve, reject, timer: undefined, signal, onAbort: undefined };
      if (timeoutMs !== undefined) {
        waiter.timer = setTimeout(() => {
          this.#leave(waiter);
          reject(onTimeout?.());
        }, timeoutMs);
      }
      if (signal !== undefined) {
        waiter.onAbort = () => {
          this.#leave(waiter);
          reject(new AbortedError(undefined, { cause: signal.reason }));
        };
        signal.addEventListener('abort', waiter.onAbort, { once: true });
      }
      this.#waiters.push(waiter);
    });
  }

  /**
   * Hands the oldest waiter `value` (its slot); false when none waits. `value` is taken
   * before the waiter's promise settles, so the owner counts the slot as taken at once.
   */
  admitNext(value: T): boolean {
    const waiter = this.#waiters.shift();
    if (waiter === undefined) return false;
    forget(waiter);
    waiter.resolve(value);
    return true;
  }

  /** Rejects every waiter with `error` (a close). */
  rejectAll(error: () => unknown): void {
    for (const waiter of this.#waiters.splice(0)) {
      forget(waiter);
      waiter.reject(error());
    }
  }

  #leave(waiter: Waiter<T>): void {
    const index = this.#waiters.indexOf(waiter);
    if (index !== -1) this.#waiters.splice(index, 1);
    forget(waiter);
  }
}

function forget<T>(waiter: Waiter<T>): void {
  clearTimeout(waiter.timer);
  if (waiter.onAbort !== undefined) waiter.signal?.removeEventListener('abort', waiter.onAbort);
}
