import { AbortedError } from '../errors/index.js';
import { checkNumber } from '../internal/validate-options.js';

/** The function {@link map} calls per item, with the item's position and a signal that aborts when the run stops. */
export type MapFn<T, R> = (item: T, index: number, signal: AbortSignal) => R | PromiseLike<R>;

/** Options of {@link map}. */
export interface MapOptions {
  /**
   * Calls of `fn` running at once; also the most items pulled from the input and not yet done.
   * @defaultValue 8
   */
  concurrency?: number;
  /** Aborts the run: no more items are pulled and the result rejects with `HP_ERR_ABORTED`. */
  signal?: AbortSignal;
  /**
   * `true`: the first failure stops the run (the signal passed to `fn` aborts, the input's
   * `return()` is called) and the result rejects with it. `false`: failures are collected and,
   * once every item ran, thrown together as an `AggregateError`.
   * @defaultValue true
   */
  stopOnError?: boolean;
}

/** Where a run delivers what it produces. */
export interface MapSink<R> {
  value(index: number, value: R): void;
  /** An item failed and the run goes on (`stopOnError: false`). */
  skip(index: number): void;
  /** The run ended: `error` is undefined on success. Called once. */
  end(error: unknown): void;
}

type AnyIterator<T> = Iterator<T> | AsyncIterator<T>;

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    value !== null &&
    (typeof value === 'object' || typeof value === 'function') &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

/**
 * One bounded run of `fn` over an input, shared by {@link map}, {@link mapIterable} and
 * {@link pipeline}. Items are pulled one at a time and only while fewer than `concurrency`
 * run and fewer than `concurrency + buffer` are held (running or produced but not consumed),
 * so memory stays bounded whatever the input's length. An async input's `next()` is never
 * called again before the previous call settled (p-map's iterable form does, and then runs
 * more than its limit: p-map#76).
 */
export class MapEngine<T, R> {
  /** Results produced and not yet consumed, maintained by the sink. */
  held = 0;
  readonly #iterator: AnyIterator<T>;
  readonly #isAsync: boolean;
  readonly #fn: MapFn<T, R>;
  readonly #limit: number;
  readonly #maxHeld: number;
  readonly #stopOnError: boolean;
  readonly #controller = new AbortController();
  readonly #sink: MapSink<R>;
  readonly #signal: AbortSignal | undefined;
  readonly #onAbort = () => {
    this.stop(new AbortedError(undefined, { cause: this.#signal?.reason }));
  };
  #active = 0;
  #index = 0;
  #sourceDone = false;
  #pulling = false;
  #pumping = false;
  #ended = false;
  #errors: unknown[] | undefined;

  constructor(
    input: Iterable<T> | AsyncIterable<T>,
    fn: MapFn<T, R>,
    options: MapOptions,
    buffer: number,
    sink: MapSink<R>,
  ) {
    if (typeof fn !== 'function') throw new TypeError('fn must be a function');
    this.#limit = checkNumber('concurrency', options.concurrency ?? 8, { min: 1, integer: true });
    this.#maxHeld = this.#limit + buffer;
    this.#stopOnError = options.stopOnError ?? true;
    this.#fn = fn;
    this.#sink = sink;
    const asyncFactory = (input as Partial<AsyncIterable<T>>)[Symbol.asyncIterator];
    if (typeof asyncFactory === 'function') {
      this.#iterator = asyncFactory.call(input);
      this.#isAsync = true;
    } else {
      const syncFactory = (input as Partial<Iterable<T>>)[Symbol.iterator];
      if (typeof syncFactory !== 'function') throw new TypeError('input must be iterable');
      this.#iterator = syncFactory.call(input);
      this.#isAsync = false;
    }
    this.#signal = options.signal;
    if (this.#signal !== undefined) {
      if (this.#signal.aborted) {
        this.#onAbort();
        return;
      }
      this.#signal.addEventListener('abort', this.#onAbort, { once: true });
    }
  }

  /** Calls of `fn` running now. */
  get active(): number {
    return this.#active;
  }

  /** Items pulled from the input so far. */
  get pulled(): number {
    return this.#index;
  }

  /** Whether the run ended (done, failed, aborted or stopped). */
  get ended(): boolean {
    return this.#ended;
  }

  /** Pulls and starts items while there is room. */
  pump(): void {
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      while (
        !this.#sourceDone &&
        !this.#ended &&
        !this.#pulling &&
        this.#active < this.#limit &&
        this.#active + this.held < this.#maxHeld
      ) {
        if (this.#isAsync) {
          this.#pullAsync();
          return;
        }
        let step: IteratorResult<T>;
        try {
          step = (this.#iterator as Iterator<T>).next();
        } catch (error) {
          this.stop(error);
          return;
        }
        if (step.done === true) {
          this.#sourceDone = true;
          this.#checkDone();
          return;
        }
        this.#start(step.value);
      }
    } finally {
      this.#pumping = false;
    }
  }

  /** Ends the run with `error` (or quietly, for `undefined`): aborts `fn`'s signal and closes the input. */
  stop(error: unknown): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#signal?.removeEventListener('abort', this.#onAbort);
    this.#controller.abort(error ?? new AbortedError('the map run was stopped'));
    if (!this.#sourceDone) {
      this.#sourceDone = true;
      try {
        const closing = this.#iterator.return?.();
        // A failing return() must not surface as an unhandled rejection.
        if (isThenable(closing)) closing.then(undefined, () => undefined);
      } catch {
        // The input's own cleanup failed; the run's error is the one to report.
      }
    }
    this.#sink.end(error);
  }

  #pullAsync(): void {
    this.#pulling = true;
    (this.#iterator as AsyncIterator<T>).next().then(
      (step) => {
        this.#pulling = false;
        if (this.#ended) return;
        if (step.done === true) {
          this.#sourceDone = true;
          this.#checkDone();
          return;
        }
        this.#start(step.value);
        this.pump();
      },
      (error: unknown) => {
        this.#pulling = false;
        this.#sourceDone = true;
        this.stop(error);
      },
    );
  }

  #start(item: T): void {
    const index = this.#index++;
    this.#active++;
    let result: R | PromiseLike<R>;
    try {
      result = this.#fn(item, index, this.#controller.signal);
    } catch (error) {
      this.#rejected(index, error);
      return;
    }
    if (isThenable(result)) {
      result.then(
        (value) => this.#fulfilled(index, value),
        (error: unknown) => this.#rejected(index, error),
      );
    } else this.#fulfilled(index, result);
  }

  #fulfilled(index: number, value: R): void {
    this.#active--;
    if (this.#ended) return;
    this.#sink.value(index, value);
    this.pump();
    this.#checkDone();
  }

  #rejected(index: number, error: unknown): void {
    this.#active--;
    if (this.#ended) return;
    if (this.#stopOnError) {
      this.stop(error);
      return;
    }
    (this.#errors ??= []).push(error);
    this.#sink.skip(index);
    this.pump();
    this.#checkDone();
  }

  #checkDone(): void {
    if (!this.#sourceDone || this.#active > 0 || this.#pulling || this.#ended) return;
    this.#ended = true;
    this.#signal?.removeEventListener('abort', this.#onAbort);
    const errors = this.#errors;
    this.#sink.end(
      errors === undefined
        ? undefined
        : new AggregateError(errors, `${errors.length} items failed`),
    );
  }
}
