/**
 * The programmatic entry point: {@link load} runs one load test and resolves to its result.
 */
import { Engine, type LoadResponse } from './engine.js';
import { InvalidOptionError } from '../errors/index.js';
import { assessHealth } from './health.js';
import { type LoadOptions, resolveOptions } from './options.js';
import type { LoadResult, TimelinePoint } from './result.js';
import { latencyHistogram, TimelineBuilder } from './stats.js';
import { runWorkers } from './workers.js';

/** A live view of the run, once per second. */
export interface LoadProgress {
  /** Seconds measured so far. */
  elapsedSeconds: number;
  /** Responses completed in the last second. */
  requestsPerSecond: number;
  /** p99 latency (from the intended send time) of the last second, in microseconds. */
  p99: number;
  /** Responses completed so far. */
  completed: number;
  /** Failures (connect, timeout, reset) so far. */
  errors: number;
  /** Non-2xx responses in the last second. */
  non2xx: number;
  /** Open model: the target arrival rate in the last second (requests/s); null when closed. */
  targetRate: number | null;
  /** p99 latency (from the intended send time) of every response so far, in microseconds. */
  p99SoFar: number;
  /** Responses that failed a check so far. */
  checksFailed: number;
}

/** Run-time controls of {@link load}. */
export interface LoadControls {
  /** Stops the run early; the promise then resolves with the results so far (`isInterrupted`). */
  signal?: AbortSignal;
  /** Called once per measured second. */
  onProgress?: (progress: LoadProgress) => void;
  /**
   * Called once per request sent (warm-up included) when it is answered, with the request's
   * bytes, the status and the body, or when it fails without an answer. Requests still
   * unanswered when the run is interrupted are not reported. Bodies are copied only when this
   * is set. One thread only (`workers` 1): a function cannot be sent to a worker thread.
   */
  onResponse?: (response: LoadResponse) => void;
}

/**
 * Runs a load test and resolves to its {@link LoadResult}: latency from the intended and from
 * the actual send time, throughput, bytes, statuses, errors by kind, a per-second timeline,
 * and whether the generator itself was the bottleneck.
 *
 * With `rate` (or `stages`) it runs the open model: requests arrive at that rate whatever the
 * server does, and latency counts from each request's intended send time. Without, it runs the
 * closed model: `connections` connections each send their next request when the previous
 * answer arrives.
 *
 * @throws {@link InvalidOptionError} `HP_ERR_INVALID_OPTION` on a bad option (checked before
 * any traffic, reported as a rejection).
 * @throws {@link LoadWorkerError} `HP_ERR_LOAD_WORKER_FAILED` when a worker thread crashes.
 * @example
 * ```ts
 * import { load } from 'hotpath/load';
 * const result = await load({ url: 'http://127.0.0.1:3000/api/users/1/summary', rate: 500, durationMs: 10_000 });
 * console.log(result.latency.percentiles['99'] / 1000, 'ms p99');
 * ```
 */
export async function load(options: LoadOptions, controls: LoadControls = {}): Promise<LoadResult> {
  const resolved = resolveOptions(options);
  const timeline = new TimelineBuilder();
  const { signal, onProgress, onResponse } = controls;
  // Every second's histogram merged: the exact p99 so far, across workers too.
  const soFar = latencyHistogram();
  let checksFailed = 0;
  const progress = (
    second: number,
    point: TimelinePoint,
    completed: number,
    errors: number,
  ): LoadProgress => ({
    elapsedSeconds: second + 1,
    requestsPerSecond: point.requests,
    p99: point.p99,
    completed,
    errors,
    non2xx: point.non2xx,
    targetRate: point.targetRate,
    p99SoFar: Math.round(soFar.percentile(99)),
    checksFailed,
  });
  if (onResponse !== undefined && resolved.workers !== 1)
    throw new InvalidOptionError('workers', 'onResponse runs on one thread: set workers to 1');
  let result: LoadResult;
  if (resolved.workers === 1) {
    const engine = new Engine(resolved, {
      ...(onResponse === undefined ? {} : { onResponse }),
      onSecond: (sample, completed, errors) => {
        timeline.add(sample);
        if (onProgress === undefined) return;
        soFar.merge(sample.histogram);
        checksFailed += sample.checksFailed ?? 0;
        const point = timeline.latest(sample.second);
        if (point === undefined) return;
        onProgress(progress(sample.second, point, completed, errors));
      },
    });
    result = await engine.run(signal);
  } else {
    // Progress is reported once every worker has delivered the same second.
    const seen = new Map<number, { n: number; completed: number; errors: number }>();
    const perWorker = new Map<number, { completed: number; errors: number }>();
    result = await runWorkers(
      options,
      resolved.workers,
      (sample, worker, completed, errors) => {
        timeline.add(sample);
        if (onProgress !== undefined) {
          soFar.merge(sample.histogram);
          checksFailed += sample.checksFailed ?? 0;
        }
        perWorker.set(worker, { completed, errors });
        const s = seen.get(sample.second) ?? { n: 0, completed: 0, errors: 0 };
        s.n++;
        seen.set(sample.second, s);
        if (s.n === resolved.workers) {
          seen.delete(sample.second);
          const point = timeline.latest(sample.second);
          let totalCompleted = 0;
          let totalErrors = 0;
          for (const w of perWorker.values()) {
            totalCompleted += w.completed;
            totalErrors += w.errors;
          }
          if (point !== undefined)
            onProgress?.(progress(sample.second, point, totalCompleted, totalErrors));
        }
      },
      signal,
    );
    // Seconds that not every worker delivered (a worker whose last, partial second had no
    // response sends none): reported now, so the last progress counts every response.
    for (const second of [...seen.keys()].sort((a, b) => a - b)) {
      const point = timeline.latest(second);
      let totalCompleted = 0;
      let totalErrors = 0;
      for (const w of perWorker.values()) {
        totalCompleted += w.completed;
        totalErrors += w.errors;
      }
      if (point !== undefined) onProgress?.(progress(second, point, totalCompleted, totalErrors));
    }
  }
  result.timeline = timeline.points();
  return assessHealth(result);
}
