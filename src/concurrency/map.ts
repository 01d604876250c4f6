import { checkNumber } from '../internal/validate-options.js';
import { MapEngine, type MapFn, type MapOptions } from './map-engine.js';

/** Options of {@link mapIterable}. */
export interface MapIterableOptions extends MapOptions {
  /**
   * `true`: results come out in input order (a slow item holds back the ones after it, up to
   * `buffer`). `false`: in completion order.
   * @defaultValue true
   */
  ordered?: boolean;
  /**
   * Results finished but not yet read by the consumer, beyond which no more items are pulled.
   * @defaultValue the concurrency
   */
  buffer?: number;
}

/**
 * Runs `fn` over every item of `input` with at most `concurrency` calls at once, and resolves
 * with the results in input order. The input is pulled lazily, one item per free slot, so an
 * endless or huge (async) iterable is fine as long as the results fit in memory; use
 * {@link mapIterable} to stream them instead.
 * @throws the first failure with `stopOnError` (the default), an `AggregateError` of every
 * failure without it, {@link AbortedError} `HP_ERR_ABORTED` when `signal` aborts, and
 * {@link InvalidOptionError} `HP_ERR_INVALID_OPTION` for a bad `concurrency`.
 * @example
 * ```ts
 * const users = await map(ids, (id, _i, signal) => fetchUser(id, { signal }), { concurrency: 16 });
 * ```
 */
export function map<T, R>(
  input: Iterable<T> | AsyncIterable<T>,
  fn: MapFn<T, R>,
  options: MapOptions = {},
): Promise<R[]> {
  return new Promise<R[]>((resolve, reject) => {
    const results: R[] = [];
    const engine = new MapEngine<T, R>(input, fn, options, 0, {
      value: (index, value) => {
        results[index] = value;
      },
      skip: () => undefined,
      end: (error) => {
        if (error === undefined) resolve(results);
        else reject(error as Error);
      },
    });
    engine.pump();
  });
}

const HOLE: unique symbol = Symbol('hole');

/**
 * Like {@link map}, but yields results as they come, ordered or not, and stops pulling input
 * while `buffer` results wait for the consumer: memory stays within `concurrency + buffer`
 * items (plus the one the reader holds) whatever the input's length. Nothing runs until the first read. Leaving a
 * `for await` loop early stops the run (aborting `fn`'s signal and closing the input).
 * @throws like {@link map}, from the read after the failure.
 * @example
 * ```ts
 * for await (const row of mapIterable(readLines(file), parse, { concurrency: 4, ordered: false })) {
 *   await save(row);
 * }
 * ```
 */
export function mapIterable<T, R>(
  input: Iterable<T> | AsyncIterable<T>,
  fn: MapFn<T, R>,
  options: MapIterableOptions = {},
): AsyncIterableIterator<R> {
  const buffer =
    options.buffer === undefined
      ? (options.concurrency ?? 8)
      : checkNumber('buffer', options.buffer, { min: 0, integer: true });
  return new MapIterator<T, R>(input, fn, options, buffer);
}

interface Waiter<R> {
  resolve: (result: IteratorResult<R>) => void;
  reject: (error: unknown) => void;
}

class MapIterator<T, R> implements AsyncIterableIterator<R> {
  readonly #engine: MapEngine<T, R>;
  readonly #ordered: boolean;
  // Ordered: results by index until their turn. Unordered: a FIFO with a moving head.
  readonly #byIndex = new Map<number, R | typeof HOLE>();
  #fifo: R[] = [];
  #head = 0;
  #nextIndex = 0;
  #waiters: Waiter<R>[] = [];
  #ended = false;
  #error: unknown;
  #started = false;

  constructor(
    input: Iterable<T> | AsyncIterable<T>,
    fn: MapFn<T, R>,
    options: MapIterableOptions,
    buffer: number,
  ) {
    this.#ordered = options.ordered ?? true;
    this.#engine = new MapEngine<T, R>(input, fn, options, buffer, {
      value: (index, value) => this.#put(index, value),
      skip: (index) => this.#put(index, HOLE),
      end: (error) => {
        this.#ended = true;
        this.#error = error;
        this.#flush();
      },
    });
  }

  /** Calls of `fn` running now. */
  get active(): number {
    return this.#engine.active;
  }

  /** Results finished and not yet read. */
  get buffered(): number {
    return this.#engine.held;
  }

  next(): Promise<IteratorResult<R>> {
    if (!this.#started) {
      this.#started = true;
      this.#engine.pump();
    }
    return new Promise<IteratorResult<R>>((resolve, reject) => {
      this.#waiters.push({ resolve, reject });
      this.#flush();
    });
  }

  return(): Promise<IteratorResult<R>> {
    this.#engine.stop(undefined);
    this.#fifo = [];
    this.#byIndex.clear();
    this.#engine.held = 0;
    this.#flush();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<R> {
    return this;
  }

  #put(index: number, value: R | typeof HOLE): void {
    this.#engine.held++;
    if (this.#ordered) this.#byIndex.set(index, value);
    else if (value !== HOLE) this.#fifo.push(value);
    else this.#engine.held--;
    this.#flush();
  }

  /** Hands buffered results to waiting readers, then the end. */
  #flush(): void {
    while (this.#waiters.length > 0) {
      const item = this.#take();
      if (item !== HOLE) {
        this.#waiters.shift()!.resolve({ value: item, done: false });
        continue;
      }
      if (!this.#ended) return;
      const waiter = this.#waiters.shift()!;
      if (this.#error !== undefined) {
        const error = this.#error;
        // The error goes to one read; later reads see the end.
        this.#error = undefined;
        waiter.reject(error);
      } else waiter.resolve({ value: undefined, done: true });
    }
    // Taking results freed room for more input.
    if (!this.#ended) this.#engine.pump();
  }

  /** The next result to hand out, or HOLE when none is ready. */
  #take(): R | typeof HOLE {
    if (this.#ordered) {
      for (;;) {
        if (!this.#byIndex.has(this.#nextIndex)) return HOLE;
        const value = this.#byIndex.get(this.#nextIndex)!;
        this.#byIndex.delete(this.#nextIndex++);
        this.#engine.held--;
        if (value !== HOLE) return value;
      }
    }
    if (this.#head === this.#fifo.length) return HOLE;
    const value = this.#fifo[this.#head++]!;
    this.#engine.held--;
    if (this.#head > 1024 && this.#head * 2 > this.#fifo.length) {
      this.#fifo = this.#fifo.slice(this.#head);
      this.#head = 0;
    }
    return value;
  }
}
