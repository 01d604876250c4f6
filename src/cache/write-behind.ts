import type { L2Write } from './redis-tier.js';

/** Options of {@link WriteBehindQueue}. */
export interface WriteBehindOptions {
  flushIntervalMs: number;
  maxBatch: number;
  /** Writes a batch; resolves false when nothing of it could be written (kept for retry). */
  write: (batch: readonly L2Write[]) => Promise<boolean>;
}

/**
 * Write-behind: `set` returns once L1 holds the value and the write is queued here; the
 * queue writes to L2 in batches (one pipeline each) every `flushIntervalMs` or as soon as
 * `maxBatch` writes wait. Writes to one key coalesce (the newest wins). A batch that fails
 * stays queued and is retried on the next tick; `drain()` (called by `close()`) retries until
 * the queue is empty or its deadline passes.
 */
export class WriteBehindQueue {
  readonly #options: WriteBehindOptions;
  readonly #pending = new Map<string, L2Write>();
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> | undefined;
  #flushed = 0;

  constructor(options: WriteBehindOptions) {
    this.#options = options;
  }

  /** Queues a write, replacing any queued write of the same key. */
  enqueue(write: L2Write): void {
    this.#pending.delete(write.key);
    this.#pending.set(write.key, write);
    if (this.#pending.size >= this.#options.maxBatch) void this.flush();
    else this.#schedule();
  }

  /** Forgets a queued write (the key was deleted meanwhile). */
  drop(key: string): void {
    this.#pending.delete(key);
  }

  /** Forgets queued writes matching `predicate`. */
  dropWhere(predicate: (write: L2Write) => boolean): void {
    for (const [key, write] of this.#pending) if (predicate(write)) this.#pending.delete(key);
  }

  /** Writes waiting to be flushed. */
  get pending(): number {
    return this.#pending.size;
  }

  /** Writes flushed so far. */
  get flushed(): number {
    return this.#flushed;
  }

  #schedule(): void {
    if (this.#timer !== undefined || this.#pending.size === 0) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.flush();
    }, this.#options.flushIntervalMs);
    this.#timer.unref();
  }

  /** Writes up to `maxBatch` queued writes per pipeline until the queue is empty or a batch fails. */
  flush(): Promise<void> {
    this.#flushing ??= this.#flushAll().finally(() => {
      this.#flushing = undefined;
      this.#schedule();
    });
    return this.#flushing;
  }

  async #flushAll(): Promise<void> {
    while (this.#pending.size > 0) {
      const batch: L2Write[] = [];
      for (const write of this.#pending.values()) {
        batch.push(write);
        if (batch.length >= this.#options.maxBatch) break;
      }
      const ok = await this.#options.write(batch);
      if (!ok) return;
      for (const write of batch) {
        // A newer write of the key may have been queued while this batch was in flight.
        if (this.#pending.get(write.key) === write) this.#pending.delete(write.key);
      }
      this.#flushed += batch.length;
    }
  }

  /**
   * Flushes everything, retrying every `retryMs` until the queue is empty or `deadlineMs`
   * passes; resolves with the number of writes left unflushed.
   */
  async drain(deadlineMs: number, retryMs: number): Promise<number> {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    const end = performance.now() + deadlineMs;
    for (;;) {
      await this.flush();
      if (this.#pending.size === 0 || performance.now() >= end) break;
      await new Promise((resolve) => setTimeout(resolve, retryMs));
    }
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    return this.#pending.size;
  }
}
