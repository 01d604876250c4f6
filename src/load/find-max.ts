/**
 * The knee search: the highest arrival rate at which the service still meets a latency target.
 * Open-model steps double the rate until the target breaks, then bisect between the last
 * passing and the first failing rate until they are within 10% of each other.
 */
import { InvalidOptionError } from '../errors/index.js';
import { type LoadControls, load } from './load.js';
import type { LoadOptions } from './options.js';
import type { LoadResult } from './result.js';
import { checkThresholds, type Threshold, type ThresholdOutcome } from './thresholds.js';

/** One step of the search. */
export interface FindMaxStep {
  rate: number;
  isPassed: boolean;
  /** Why the step failed, or an empty list. */
  reasons: string[];
  result: LoadResult;
}

/** The outcome of {@link findMaxRate}. */
export interface FindMaxResult {
  /** The highest rate that passed, or null if even the first failed. */
  rate: number | null;
  /** The result at that rate. */
  result: LoadResult | null;
  steps: FindMaxStep[];
  /** Whether the search stopped because the generator, not the server, was the limit. */
  isGeneratorBound: boolean;
}

/** Options of {@link findMaxRate}. */
export interface FindMaxOptions {
  /** First rate tried (requests/s). @defaultValue 100 */
  startRate?: number;
  /** Never try above this rate. @defaultValue 1000000 */
  maxRate?: number;
  /** Most steps run. @defaultValue 16 */
  maxSteps?: number;
  /** Called after each step. */
  onStep?: (step: FindMaxStep) => void;
}

/**
 * Finds the highest rate at which every threshold holds and at least 95% of the target rate
 * is served. Each step runs `options` in the open model for its `durationMs` (default 5 s)
 * after its `warmupMs` (default 1 s: each step opens connections and warms up anew).
 * @throws {@link InvalidOptionError} `HP_ERR_INVALID_OPTION` when `thresholds` is empty.
 * @example
 * ```ts
 * const knee = await findMaxRate({ url, durationMs: 5000 }, [parseThreshold('p99<50ms')]);
 * console.log(knee.rate, 'req/s holds p99 < 50 ms');
 * ```
 */
export async function findMaxRate(
  options: LoadOptions,
  thresholds: readonly Threshold[],
  search: FindMaxOptions = {},
  controls: LoadControls = {},
): Promise<FindMaxResult> {
  if (thresholds.length === 0)
    throw new InvalidOptionError('thresholds', 'give at least one target such as p99<50ms');
  const maxRate = search.maxRate ?? 1_000_000;
  const maxSteps = search.maxSteps ?? 16;
  const steps: FindMaxStep[] = [];
  let isGeneratorBound = false;
  const run = async (rate: number): Promise<FindMaxStep> => {
    const result = await load(
      {
        ...options,
        rate,
        stages: undefined,
        durationMs: options.durationMs ?? 5000,
        warmupMs: options.warmupMs ?? 1000,
      },
      { signal: controls.signal },
    );
    const outcomes: ThresholdOutcome[] = checkThresholds(result, thresholds);
    const reasons = outcomes.filter((o) => !o.isPassed).map((o) => o.message);
    if (result.requestsPerSecond < rate * 0.95)
      reasons.push(`served ${result.requestsPerSecond.toFixed(0)} of ${rate} req/s`);
    if (result.generator.isBottleneck) reasons.push('the generator was the bottleneck');
    const step = { rate, isPassed: reasons.length === 0 && !result.isInterrupted, reasons, result };
    steps.push(step);
    search.onStep?.(step);
    return step;
  };
  let lo: FindMaxStep | null = null;
  let hi: FindMaxStep | null = null;
  let rate = search.startRate ?? options.rate ?? 100;
  while (steps.length < maxSteps && rate <= maxRate && !controls.signal?.aborted) {
    const step = await run(rate);
    if (!step.isPassed) {
      hi = step;
      break;
    }
    lo = step;
    rate = Math.min(maxRate, rate * 2);
    if (lo.rate === maxRate) break;
  }
  while (
    lo !== null &&
    hi !== null &&
    hi.rate / lo.rate > 1.1 &&
    steps.length < maxSteps &&
    !controls.signal?.aborted
  ) {
    const step = await run(Math.round((lo.rate + hi.rate) / 2));
    if (step.isPassed) lo = step;
    else hi = step;
  }
  if (hi?.result.generator.isBottleneck) isGeneratorBound = true;
  return { rate: lo?.rate ?? null, result: lo?.result ?? null, steps, isGeneratorBound };
}
