import type { Readable } from 'node:stream';
import { AbortedError, ClosedError } from '../errors/index.js';
import { checkNumber } from '../internal/validate-options.js';
import { takeChunkedCpuProfile } from './chunked-cpu-profile.js';
import type { CpuProfile } from './cpu-profile.js';
import type { CpuProfileAggregate } from './cpu-profile-aggregate.js';
import type { HeapSnapshotEstimate } from './errors.js';
import { ProfileBusyError } from './errors.js';
import type { HeapProfile } from './heap-profile.js';
import { takeHeapProfile } from './heap-profile.js';
import type { MemoryReader, SnapshotLimits } from './heap-snapshot.js';
import {
  checkSnapshotCost,
  estimateSnapshot,
  heapSnapshotStream,
  systemMemory,
} from './heap-snapshot.js';
import type { InspectorTarget } from './inspector-target.js';
import { openThreadTarget, openWorkerTarget } from './inspector-target.js';
import { SourceMapResolver } from './source-maps.js';

/** Options of {@link Profiler}. */
export interface ProfilerOptions {
  /** Longest profile accepted, in seconds. @defaultValue 60 */
  maxSeconds?: number;
  /** CPU sampling interval in microseconds. @defaultValue 1000 */
  intervalUs?: number;
  /**
   * CPU profiles are taken in chunks of this many milliseconds, folded while the profile
   * runs (see {@link takeChunkedCpuProfile}). @defaultValue 1000
   */
  chunkMs?: number;
  /**
   * Longest last chunk of a CPU profile, in milliseconds: the part still to stop and fold when
   * the profile window ends. @defaultValue 100
   */
  lastChunkMs?: number;
  /** Heap sampling interval in bytes. @defaultValue 32768 */
  heapSamplingIntervalBytes?: number;
  /** Map frames of compiled code to their sources when source maps exist. @defaultValue true */
  sourceMaps?: boolean;
  /** Memory facts for the heap snapshot cost check. @defaultValue {@link systemMemory} */
  memory?: MemoryReader;
  /** Limits of the heap snapshot cost check. */
  snapshotLimits?: SnapshotLimits;
}

/** Where and how long to profile. */
export interface ProfileRequest {
  /** Duration in seconds, at most `maxSeconds`. */
  seconds: number;
  /** Name of a worker thread to profile instead of the calling thread. */
  worker?: string;
  /** Stops the profile early; the call then rejects with an `AbortedError`. */
  signal?: AbortSignal;
}

/** A heap profile request. */
export interface HeapProfileRequest extends ProfileRequest {
  /** Include sampled objects already freed (allocation profile). @defaultValue false */
  includeCollected?: boolean;
}

/**
 * Takes on-demand CPU profiles, sampling heap profiles and heap snapshots of this thread or
 * of a named worker thread, through `node:inspector` alone. One CPU and one heap profile run at
 * a time; a second one is refused with {@link ProfileBusyError} rather than queued, as in Go's
 * net/http/pprof.
 *
 * @example
 * ```ts
 * const profiler = new Profiler();
 * const profile = await profiler.cpuProfileAggregate({ seconds: 10 });
 * await writeFile('cpu.pb.gz', profile.encodePprof());
 * await profiler.close();
 * ```
 */
export class Profiler {
  readonly #maxSeconds: number;
  readonly #intervalUs: number;
  readonly #chunkMs: number;
  readonly #lastChunkMs: number;
  readonly #heapIntervalBytes: number;
  readonly #resolver: SourceMapResolver | undefined;
  readonly #memory: MemoryReader;
  readonly #limits: SnapshotLimits;
  readonly #busy = new Set<'cpu' | 'heap'>();
  readonly #running = new Set<Promise<unknown>>();
  readonly #closing = new AbortController();

  /** @throws {@link InvalidOptionError} `HP_ERR_INVALID_OPTION` naming a bad option */
  constructor(options: ProfilerOptions = {}) {
    this.#maxSeconds = checkNumber('maxSeconds', options.maxSeconds ?? 60, { min: 0.01 });
    this.#intervalUs = checkNumber('intervalUs', options.intervalUs ?? 1000, {
      min: 50,
      max: 1e6,
      integer: true,
    });
    this.#chunkMs = checkNumber('chunkMs', options.chunkMs ?? 1000, { min: 50 });
    this.#lastChunkMs = checkNumber('lastChunkMs', options.lastChunkMs ?? 100, {
      min: 20,
      max: this.#chunkMs,
    });
    this.#heapIntervalBytes = checkNumber(
      'heapSamplingIntervalBytes',
      options.heapSamplingIntervalBytes ?? 32768,
      { min: 1, integer: true },
    );
    this.#resolver = options.sourceMaps === false ? undefined : new SourceMapResolver();
    this.#memory = options.memory ?? systemMemory;
    this.#limits = options.snapshotLimits ?? {};
  }

  /** Longest profile accepted, in seconds. */
  get maxSeconds(): number {
    return this.#maxSeconds;
  }

  /** CPU sampling interval in microseconds. */
  get intervalUs(): number {
    return this.#intervalUs;
  }

  /** Heap sampling interval in bytes. */
  get heapSamplingIntervalBytes(): number {
    return this.#heapIntervalBytes;
  }

  /** True while a profile of `kind` runs. */
  isBusy(kind: 'cpu' | 'heap'): boolean {
    return this.#busy.has(kind);
  }

  /**
   * Samples JavaScript stacks for `seconds` and returns the V8 CPU profile, its frames mapped
   * to original sources when source maps exist.
   * @throws {@link ProfileBusyError} `HP_ERR_PROFILE_BUSY` when a CPU profile already runs
   * @throws {@link WorkerNotFoundError} `HP_ERR_PROFILE_WORKER_NOT_FOUND`
   * @throws {@link AbortedError} `HP_ERR_ABORTED`
   */
  async cpuProfile(request: ProfileRequest): Promise<CpuProfile> {
    return (await this.cpuProfileAggregate(request)).toCpuProfile();
  }

  /**
   * Samples JavaScript stacks for `seconds` and returns the profile folded from its chunks,
   * frames mapped to original sources when source maps exist: the quickest way to pprof bytes
   * (`aggregate.encodePprof()`) when the profile ends.
   * @throws {@link ProfileBusyError} `HP_ERR_PROFILE_BUSY` when a CPU profile already runs
   * @throws {@link WorkerNotFoundError} `HP_ERR_PROFILE_WORKER_NOT_FOUND`
   * @throws {@link AbortedError} `HP_ERR_ABORTED`
   */
  cpuProfileAggregate(request: ProfileRequest): Promise<CpuProfileAggregate> {
    return this.#run('cpu', request, (target, signal) =>
      takeChunkedCpuProfile(target, {
        durationMs: request.seconds * 1000,
        intervalUs: this.#intervalUs,
        chunkMs: this.#chunkMs,
        lastChunkMs: this.#lastChunkMs,
        resolver: this.#resolver,
        signal,
      }),
    );
  }

  /**
   * Samples allocations for `seconds` and returns the V8 sampling heap profile: the sampled
   * bytes still live at the end, by allocation stack (or all sampled bytes with
   * `includeCollected`).
   * @throws {@link ProfileBusyError} `HP_ERR_PROFILE_BUSY` when a heap profile already runs
   * @throws {@link WorkerNotFoundError} `HP_ERR_PROFILE_WORKER_NOT_FOUND`
   * @throws {@link AbortedError} `HP_ERR_ABORTED`
   */
  heapProfile(request: HeapProfileRequest): Promise<HeapProfile> {
    return this.#run('heap', request, async (target, signal) => {
      const profile = await takeHeapProfile(target, {
        durationMs: request.seconds * 1000,
        samplingIntervalBytes: this.#heapIntervalBytes,
        includeCollected: request.includeCollected === true,
        signal,
      });
      return this.#resolver?.mapHeapProfile(profile) ?? profile;
    });
  }

  /** Estimates the cost of a heap snapshot now, without taking one. */
  estimateHeapSnapshot(): HeapSnapshotEstimate {
    return estimateSnapshot(this.#memory, this.#limits);
  }

  /**
   * Takes a full heap snapshot of this thread as a `.heapsnapshot` JSON stream, after the cost
   * check unless `force` is set. The thread is blocked while V8 builds it.
   * @throws {@link HeapSnapshotRefusedError} `HP_ERR_PROFILE_SNAPSHOT_REFUSED`
   */
  heapSnapshot(options: { force?: boolean } = {}): {
    estimate: HeapSnapshotEstimate;
    stream: Readable;
  } {
    if (this.#closing.signal.aborted) throw new ClosedError('Profiler');
    const estimate =
      options.force === true
        ? estimateSnapshot(this.#memory, this.#limits)
        : checkSnapshotCost(this.#memory, this.#limits);
    return { estimate, stream: heapSnapshotStream() };
  }

  /** Aborts running profiles and waits for them to stop. */
  async close(): Promise<void> {
    this.#closing.abort(new ClosedError('Profiler'));
    await Promise.allSettled([...this.#running]);
  }

  #run<T>(
    kind: 'cpu' | 'heap',
    request: ProfileRequest,
    body: (target: InspectorTarget, signal: AbortSignal) => Promise<T>,
  ): Promise<T> {
    if (this.#closing.signal.aborted) return Promise.reject(new ClosedError('Profiler'));
    try {
      checkNumber('seconds', request.seconds, { min: 0.001, max: this.#maxSeconds });
    } catch (error) {
      return Promise.reject(error as Error);
    }
    if (this.#busy.has(kind)) return Promise.reject(new ProfileBusyError(kind));
    if (request.signal?.aborted === true) {
      return Promise.reject(
        new AbortedError('the profile was aborted', { cause: request.signal.reason }),
      );
    }
    this.#busy.add(kind);
    const signal =
      request.signal === undefined
        ? this.#closing.signal
        : AbortSignal.any([request.signal, this.#closing.signal]);
    const task = (async () => {
      const target =
        request.worker === undefined ? openThreadTarget() : await openWorkerTarget(request.worker);
      try {
        return await body(target, signal);
      } finally {
        await target.close();
      }
    })().finally(() => {
      this.#busy.delete(kind);
      this.#running.delete(task);
    });
    this.#running.add(task);
    return task;
  }
}
