import { performance } from 'node:perf_hooks';
import type { MapFn } from './map-engine.js';
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

/**
 * The output of {@link pipeline}: read it with `for await`, ask it for per-stage counters.
 */
export class Pipeline<R> implements AsyncIterable<R> {
  readonly #output: AsyncIterableIterator<R>;
  readonly #stages: readonly StageView[];
  #startedAt: number | undefined;

  /** @internal */
  constructor(output: AsyncIterableIterator<R>, stages: readonly StageView[]) {
    this.#output = output;
    this.#stages = stages;
  }

  /** Per-stage throughput and queue depth, in stage order. */
  stats(): StageStats[] {
    const seconds =
      this.#startedAt === undefined ? 0 : (performance.now() - this.#startedAt) / 1000;
    return this.#stages.map((s) => ({
      name: s.name,
      done: s.done,
      active: s.iterator.active,
      buffered: s.iterator.buffered,
      itemsPerSecond: seconds > 0 ? s.done / seconds : 0,
    }));
  }

  [Symbol.asyncIterator](): AsyncIterator<R> {
    this.#startedAt ??= performance.now();
    return this.#output;
  }
}

type AnyStage = PipelineStage<unknown, unknown>;

/**
 * Chains async stages with backpressure: each stage runs its own bounded number of calls and
 * pulls from the stage before only when it has a free slot and room in its buffer, so a slow
 * stage slows the source instead of piling items up in memory. Reading the result drives it;
 * leaving the loop early stops every stage.
 * @throws the first failure of any stage, or {@link AbortedError} `HP_ERR_ABORTED`.
 * @example
 * ```ts
 * const run = pipeline(readRows(file),
 *   { name: 'parse', concurrency: 1, fn: parseRow },
 *   { name: 'enrich', concurrency: 16, fn: (row, _i, signal) => lookup(row, signal) });
 * for await (const row of run) await sink.write(row);
 * console.table(run.stats());
 * ```
 */
export function pipeline<A, B>(
  source: Iterable<A> | AsyncIterable<A>,
  s1: PipelineStage<A, B>,
  options?: PipelineOptions,
): Pipeline<B>;
export function pipeline<A, B, C>(
  source: Iterable<A> | AsyncIterable<A>,
  s1: PipelineStage<A, B>,
  s2: PipelineStage<B, C>,
  options?: PipelineOptions,
): Pipeline<C>;
export function pipeline<A, B, C, D>(
  source: Iterable<A> | AsyncIterable<A>,
  s1: PipelineStage<A, B>,
  s2: PipelineStage<B, C>,
  s3: PipelineStage<C, D>,
  options?: PipelineOptions,
): Pipeline<D>;
export function pipeline<A, B, C, D, E>(
  source: Iterable<A> | AsyncIterable<A>,
  s1: PipelineStage<A, B>,
  s2: PipelineStage<B, C>,
  s3: PipelineStage<C, D>,
  s4: PipelineStage<D, E>,
  options?: PipelineOptions,
): Pipeline<E>;
export function pipeline(
  source: Iterable<unknown> | AsyncIterable<unknown>,
  ...args: unknown[]
): Pipeline<unknown> {
  const rest = args as (AnyStage | PipelineOptions)[];
  const last = rest[rest.length - 1];
  const options: PipelineOptions =
    last !== undefined && !('fn' in last) ? (rest.pop() as PipelineOptions) : {};
  const stages = rest as AnyStage[];
  if (stages.length === 0) throw new TypeError('pipeline needs at least one stage');
  const views: StageView[] = [];
  let input: Iterable<unknown> | AsyncIterable<unknown> = source;
  let output: AsyncIterableIterator<unknown> | undefined;
  for (const [i, stage] of stages.entries()) {
    const view: StageView = {
      name: stage.name ?? `stage${i + 1}`,
      done: 0,
      iterator: { active: 0, buffered: 0 },
    };
    const fn = stage.fn;
    const counted: MapFn<unknown, unknown> = async (item, index, signal) => {
      const value = await fn(item, index, signal);
      view.done++;
      return value;
    };
    const mapOptions: Parameters<typeof mapIterable>[2] = {
      concurrency: stage.concurrency ?? 1,
      ordered: stage.ordered ?? true,
    };
    if (stage.buffer !== undefined) mapOptions.buffer = stage.buffer;
    if (options.signal !== undefined) mapOptions.signal = options.signal;
    const iterator = mapIterable(input, counted, mapOptions);
    view.iterator = iterator as unknown as StageView['iterator'];
    views.push(view);
    input = iterator;
    output = iterator;
  }
  return new Pipeline(output!, views);
}
