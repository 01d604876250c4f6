import { InvalidOptionError } from '../../errors/index.js';
import { checkNumber } from '../../internal/validate-options.js';

/** Options of {@link BatchLoader}. */
export interface BatchLoaderOptions<K, V> {
  /**
   * Loads many keys in one round trip. Returns a map from key to value, or an array aligned with
   * `keys`; a missing key resolves to `undefined`.
   */
  batch: (keys: K[]) => Promise<ReadonlyMap<K, V> | readonly (V | undefined)[]>;
  /**
   * Most keys per call of `batch`; larger sets are split.
   * @defaultValue 500
   */
  maxBatchSize?: number;
  /**
   * Remember each key's promise, so a key asked twice is loaded once. Make one loader per
   * request (the cache is never invalidated by writes).
   * @defaultValue true
   */
  cache?: boolean;
}

interface Pending<K, V> {
  keys: K[];
  waiters: Array<{ resolve: (v: V | undefined) => void; reject: (e: unknown) => void }>;
}

/**
 * Collects the keys asked for in one tick and loads them in one call, the fix for N+1 queries.
 * The same idea as DataLoader, written here to have no dependency; its per-key cost is the same
 * or lower (bench/db/n-plus-one.bench.ts runs both).
 *
 * @example
 * const latest = new BatchLoader<number, Payment>({
 *   batch: (ids) => latestPaymentByUser(pool, ids),
 * });
 * const payments = await Promise.all(users.map((u) => latest.load(u.id)));
 */
export class BatchLoader<K, V> {
  readonly #batch: BatchLoaderOptions<K, V>['batch'];
  readonly #maxBatchSize: number;
  readonly #cache: Map<K, Promise<V | undefined>> | undefined;
  #pending: Pending<K, V> | undefined;
  #batches = 0;

  /** @throws {@link InvalidOptionError} `HP_ERR_INVALID_OPTION` on a bad option. */
  constructor(options: BatchLoaderOptions<K, V>) {
    if (typeof options?.batch !== 'function') {
      throw new InvalidOptionError('batch', 'expected a function (keys) => Promise<Map | array>');
    }
    this.#batch = options.batch;
    this.#maxBatchSize = checkNumber('maxBatchSize', options.maxBatchSize ?? 500, {
      min: 1,
      integer: true,
    });
    this.#cache = options.cache === false ? undefined : new Map();
  }

  /** Calls of `batch` so far. */
  get batches(): number {
    return this.#batches;
  }

  /** The value of `key`, loaded together with every other key asked for in this tick. */
  load(key: K): Promise<V | undefined> {
    const cached = this.#cache?.get(key);
    if (cached !== undefined) return cached;
    let pending = this.#pending;
    if (pending === undefined) {
      pending = { keys: [], waiters: [] };
      this.#pending = pending;
      // after the current microtasks: every load() of this tick joins the batch
      process.nextTick(() => this.#dispatch());
    }
    const promise = new Promise<V | undefined>((resolve, reject) => {
      pending.keys.push(key);
      pending.waiters.push({ resolve, reject });
    });
    this.#cache?.set(key, promise);
    if (pending.keys.length >= this.#maxBatchSize) this.#dispatch();
    return promise;
  }

  /** The values of `keys`, in order. */
  loadMany(keys: readonly K[]): Promise<Array<V | undefined>> {
    return Promise.all(keys.map((k) => this.load(k)));
  }

  /** Forgets `key` (after writing it), or every key. */
  clear(key?: K): void {
    if (key === undefined) this.#cache?.clear();
    else this.#cache?.delete(key);
  }

  #dispatch(): void {
    const pending = this.#pending;
    if (pending === undefined) return;
    this.#pending = undefined;
    this.#batches++;
    const { keys, waiters } = pending;
    let call: Promise<ReadonlyMap<K, V> | readonly (V | undefined)[]>;
    try {
      call = this.#batch(keys);
    } catch (error) {
      call = Promise.reject(error);
    }
    call.then(
      (result) => {
        if (Array.isArray(result)) {
          const values = result as readonly (V | undefined)[];
          if (values.length !== keys.length) {
            const error = new InvalidOptionError(
              'batch',
              `returned ${values.length} values for ${keys.length} keys`,
            );
            for (const w of waiters) w.reject(error);
            return;
          }
          for (let i = 0; i < waiters.length; i++) waiters[i]!.resolve(values[i]);
        } else {
          const map = result as ReadonlyMap<K, V>;
          for (let i = 0; i < waiters.length; i++) waiters[i]!.resolve(map.get(keys[i]!));
        }
      },
      (error: unknown) => {
        // a failed batch is not cached: the next load() tries again
        for (const key of keys) this.#cache?.delete(key);
        for (const w of waiters) w.reject(error);
      },
    );
  }
}
