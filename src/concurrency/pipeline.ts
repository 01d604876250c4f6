import { performance } from 'node:perf_hooks';
import type { MapFn } from './map-engine.js';
import { InvalidOptionError } from '../errors/index.js';
import { mapIterable } from './map.js';

/** One stage of a {@link pipeline}: a function and how many of its calls run at once. */
export interface PipelineStage<I, O> {
  /** Name in {@link Pipeline.stats}. @defaultValue `stage<N>` */
  name?: string;
  /** Calls of `fn` at once. @defaultValue 1 */
  concurrency?: number;
  /** Results held for the next stage beyond which this stage stops pulling. @defaultValue the concurrency */
  buffer?: number;
  /** Keep input order. @defaultValue true */
  ordered?: boolean;
  fn: MapFn<I, O>;
}

/** Counters of one stage since the pipeline started. */
export interface StageStats {
  name: string;
  /** Items the stage finished. */
  done: number;
  /** Calls running now. */
  active: number;
  /** Results waiting for the next stage (or the consumer): the queue depth between stages. */
  buffered: number;
  /** `done` over the seconds since the first read. */
  itemsPerSecond: number;
}

/** Options of {@link pipeline}. */
export interface PipelineOptions {
  /** Aborts every stage. */
  signal?: AbortSignal;
}

interface StageView {
  name: string;
  done: number;
  iterator: { readonly active: number; readonly buffered: number };
}

type AnyStage = PipelineStage<unknown, unknown>;
type Source = Iterable<unknown> | AsyncIterable<unknown>;

/**
 * The output of {@link pipeline}: read it with `for await`, ask it for per-stage counters, or
 * add a stage with {@link Pipeline.pipe} before the first read.
 */
export class Pipeline<R> implements AsyncIterable<R> {
  readonly #source: Source;
  readonly #stages: readonly AnyStage[];
  readonly #options: PipelineOptions;
  readonly #views: readonly StageView[];
  #output: AsyncIterableIterator<R> | undefined;
  #state: 'new' | 'reading' | 'piped' = 'new';
  #startedAt: number | undefined;

  /** @internal */
  constructor(source: Source, stages: readonly AnyStage[], options: PipelineOptions) {
    this.#source = source;
    this.#stages = stages;
    this.#options = options;
    this.#views = stages.map((stage, i) => ({
      name: stage.name ?? `stage${i + 1}`,
      done: 0,
      iterator: { active: 0, buffered: 0 },
    }));
  }

  /**
   * A pipeline with `stage` after this one's stages, typed from this pipeline's output, for
   * chains of any length: `pipeline(source).pipe(a).pipe(b)...`. This pipeline is then spent:
   * read the one returned.
   * @throws {@link InvalidOptionError} `HP_ERR_INVALID_OPTION` when this pipeline is already
   *   being read or was already piped, or `stage` has no `fn`.
   */
  pipe<O>(stage: PipelineStage<R, O>): Pipeline<O> {
    if (this.#state !== 'new') {
      throw new InvalidOptionError(
        'stage',
        this.#state === 'reading'
          ? 'pipe() comes before the first read of the pipeline'
          : 'this pipeline was already piped: add stages to the one pipe() returned',
      );
    }
    checkStage(stage, this.#stages.length);
    this.#state = 'piped';
    return new Pipeline<O>(this.#source, [...this.#stages, stage as AnyStage], this.#options);
  }

  /** Per-stage throughput and queue depth, in stage order. */
  stats(): StageStats[] {
    const seconds =
      this.#startedAt === undefined ? 0 : (performance.now() - this.#startedAt) / 1000;
    return this.#views.map((s) => ({
      name: s.name,
      done: s.done,
      active: s.iterator.active,
      buffered: s.iterator.buffered,
      itemsPerSecond: seconds > 0 ? s.done / seconds : 0,
    }));
  }

  /** @throws {@link InvalidOptionError} `HP_ERR_INVALID_OPTION` when this pipeline was piped. */
  [Symbol.asyncIterator](): AsyncIterator<R> {
    if (this.#state === 'piped') {
      throw new InvalidOptionError(
        'stage',
        'this pipeline was piped: read the one pipe() returned',
      );
    }
    this.#state = 'reading';
    this.#startedAt ??= performance.now();
    this.#output ??= this.#build();
    return this.#output;
  }

  #build(): AsyncIterableIterator<R> {
    const signal = this.#options.signal;
    let input: Source = this.#source;
    if (this.#stages.length === 0) {
      // No stage: the source as it is, still stopped by the signal.
      return mapIterable(
        input,
        (item) => item,
        signal === undefined ? {} : { signal },
      ) as AsyncIterableIterator<R>;
    }
    let output: AsyncIterableIterator<unknown> | undefined;
    for (const [i, stage] of this.#stages.entries()) {
      const view = this.#views[i]!;
      const fn = stage.fn;
      const counted: MapFn<unknown, unknown> = async (item, index, itemSignal) => {
        const value = await fn(item, index, itemSignal);
        view.done++;
        return value;
      };
      const mapOptions: Parameters<typeof mapIterable>[2] = {
        concurrency: stage.concurrency ?? 1,
        ordered: stage.ordered ?? true,
      };
      if (stage.buffer !== undefined) mapOptions.buffer = stage.buffer;
      if (signal !== undefined) mapOptions.signal = signal;
      const iterator = mapIterable(input, counted, mapOptions);
      view.iterator = iterator as unknown as StageView['iterator'];
      input = iterator;
      output = iterator;
    }
    return output as AsyncIterableIterator<R>;
  }
}

const STAGE_KEYS = ['fn', 'name', 'concurrency', 'buffer', 'ordered'];

function checkStage(stage: unknown, index: number): void {
  if (
    stage === null ||
    typeof stage !== 'object' ||
    typeof (stage as { fn?: unknown }).fn !== 'function'
  ) {
    throw new InvalidOptionError(`stages[${index}]`, 'expected { fn, name?, concurrency?, ... }');
  }
}

type Src<A> = Iterable<A> | AsyncIterable<A>;
type S<I, O> = PipelineStage<I, O>;
type Opt = PipelineOptions;

/**
 * Chains async stages with backpressure: each stage runs its own bounded number of calls and
 * pulls from the stage before only when it has a free slot and room in its buffer, so a slow
 * stage slows the source instead of piling items up in memory. Reading the result drives it;
 * leaving the loop early stops every stage.
 *
 * Typed for up to eight stages given at once, each stage's input the previous one's output; for
 * more, or to add stages step by step, chain {@link Pipeline.pipe} (typed at any length).
 * @throws {@link InvalidOptionError} `HP_ERR_INVALID_OPTION` for a stage without `fn`; when
 *   read: the first failure of any stage, or {@link AbortedError} `HP_ERR_ABORTED`.
 * @example
 * ```ts
 * const run = pipeline(readRows(file),
 *   { name: 'parse', concurrency: 1, fn: parseRow },
 *   { name: 'enrich', concurrency: 16, fn: (row, _i, signal) => lookup(row, signal) });
 * // the same: pipeline(readRows(file)).pipe({ name: 'parse', fn: parseRow }).pipe({ ... })
 * for await (const row of run) await sink.write(row);
 * console.table(run.stats());
 * ```
 */
export function pipeline<A, B>(source: Src<A>, s1: S<A, B>, options?: Opt): Pipeline<B>;
export function pipeline<A, B, C>(
  source: Src<A>,
  s1: S<A, B>,
  s2: S<B, C>,
  options?: Opt,
): Pipeline<C>;
export function pipeline<A, B, C, D>(
  source: Src<A>,
  s1: S<A, B>,
  s2: S<B, C>,
  s3: S<C, D>,
  options?: Opt,
): Pipeline<D>;
export function pipeline<A, B, C, D, E>(
  source: Src<A>,
  s1: S<A, B>,
  s2: S<B, C>,
  s3: S<C, D>,
  s4: S<D, E>,
  options?: Opt,
): Pipeline<E>;
export function pipeline<A, B, C, D, E, F>(
  source: Src<A>,
  s1: S<A, B>,
  s2: S<B, C>,
  s3: S<C, D>,
  s4: S<D, E>,
  s5: S<E, F>,
  options?: Opt,
): Pipeline<F>;
export function pipeline<A, B, C, D, E, F, G>(
  source: Src<A>,
  s1: S<A, B>,
  s2: S<B, C>,
  s3: S<C, D>,
  s4: S<D, E>,
  s5: S<E, F>,
  s6: S<F, G>,
  options?: Opt,
): Pipeline<G>;
export function pipeline<A, B, C, D, E, F, G, H>(
  source: Src<A>,
  s1: S<A, B>,
  s2: S<B, C>,
  s3: S<C, D>,
  s4: S<D, E>,
  s5: S<E, F>,
  s6: S<F, G>,
  s7: S<G, H>,
  options?: Opt,
): Pipeline<H>;
export function pipeline<A, B, C, D, E, F, G, H, I>(
  source: Src<A>,
  s1: S<A, B>,
  s2: S<B, C>,
  s3: S<C, D>,
  s4: S<D, E>,
  s5: S<E, F>,
  s6: S<F, G>,
  s7: S<G, H>,
  s8: S<H, I>,
  options?: Opt,
): Pipeline<I>;
/** No stage yet: the source as a pipeline, to extend with {@link Pipeline.pipe}. */
export function pipeline<A>(source: Src<A>, options?: Opt): Pipeline<A>;
export function pipeline(source: Source, ...args: unknown[]): Pipeline<unknown> {
  const rest = args as (AnyStage | PipelineOptions | undefined)[];
  // The last argument is the options unless it looks like a stage (a stage that lacks `fn`
  // is then refused instead of being taken for options).
  const last = rest[rest.length - 1];
  const isOptions =
    rest.length > 0 && (last === undefined || !STAGE_KEYS.some((key) => key in (last as object)));
  const options: PipelineOptions = isOptions
    ? ((rest.pop() as PipelineOptions | undefined) ?? {})
    : {};
  rest.forEach((stage, i) => checkStage(stage, i));
  return new Pipeline(source, rest as AnyStage[], options);
}
