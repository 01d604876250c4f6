/**
 * One measurement of one variant: the knee (open-model search for the highest rate holding
 * p99 < 100 ms and serving 95% of it), or a round at a fixed rate with the server's CPU per request (from
 * /proc/<pid>/stat), queries per request (payments_db_queries_total), event-loop delay p99
 * and RSS around it. The load comes from hotpath/load, the engine of `hotpath load`.
 */
import {
  checkThresholds,
  load,
  parseThreshold,
  type LoadResult,
  type RequestMix,
} from 'hotpath/load';
import { processCpuTimes } from '../../bench/lib/proc.js';
import type { RoundFigures } from '../experiment.js';
import { residentMb, scrape, type ServiceProcess } from './service-process.js';

export const KNEE_TARGET = 'p99<100ms';

export interface KneeOptions {
  mix: RequestMix;
  /** The threshold a step must hold. @defaultValue {@link KNEE_TARGET} */
  target?: string;
  connections: number;
  /** Length of each step (after a 500 ms warm-up). */
  stepMs: number;
  startRate: number;
  maxSteps: number;
  /** Seeds of the steps' placeholders; each call must give a new one. */
  nextSeed: () => number;
}

export interface KneeStep {
  rate: number;
  isPassed: boolean;
  result: LoadResult;
  /** The generator fell behind its schedule in this step (late sends: other processes). */
  isGeneratorLate: boolean;
}

export interface KneeResult {
  rate: number | null;
  steps: KneeStep[];
}

/**
 * The search of `hotpath load --find-max 'p99<100ms'` (findMaxRate: open-model steps doubling
 * the rate until one fails, then bisecting until the passing and failing rates are within
 * 10%), with one difference: a step in which the generator fell behind its schedule is judged
 * on its latency and served rate like any other, instead of failing outright. Latency counts
 * from the intended send time, so the generator's lag already weighs against the server: a
 * step that passes anyway passed. On a shared machine whose other processes hold the CPU,
 * findMaxRate would otherwise stop at the first late step. Two more: a step lasts long enough
 * for 100 requests (up to 5 s), and a failing first step is run once more.
 */
export async function findKnee(service: ServiceProcess, options: KneeOptions): Promise<KneeResult> {
  const target = [parseThreshold(options.target ?? KNEE_TARGET)];
  const steps: KneeStep[] = [];
  const run = async (rate: number): Promise<KneeStep> => {
    const result = await load({
      url: service.url,
      mix: options.mix,
      rate,
      connections: options.connections,
      // At least 100 requests (at most 5 s), so p99 is not simply the one slowest request.
      durationMs: Math.max(options.stepMs, Math.min(5000, (100 / rate) * 1000)),
      warmupMs: 500,
      timeoutMs: 5000,
      seed: options.nextSeed(),
    });
    const isPassed =
      checkThresholds(result, target).every((o) => o.isPassed) &&
      result.requestsPerSecond >= rate * 0.95;
    const step = { rate, isPassed, result, isGeneratorLate: result.generator.isBottleneck };
    steps.push(step);
    return step;
  };
  let lo: KneeStep | null = null;
  let hi: KneeStep | null = null;
  let rate = options.startRate;
  while (steps.length < options.maxSteps) {
    let step = await run(rate);
    // The first step runs at a rate the service should hold: one stall of the machine must
    // not make its knee "none", so a failing first step is tried once more.
    if (!step.isPassed && lo === null && steps.length === 1) step = await run(rate);
    if (!step.isPassed) {
      hi = step;
      break;
    }
    lo = step;
    rate *= 2;
  }
  while (lo !== null && hi !== null && hi.rate / lo.rate > 1.1 && steps.length < options.maxSteps) {
    const step = await run(Math.round((lo.rate + hi.rate) / 2));
    if (step.isPassed) lo = step;
    else hi = step;
  }
  return { rate: lo?.rate ?? null, steps };
}

/** Options of {@link measureCapacity}. */
export interface CapacityOptions {
  mix: RequestMix;
  /** Requests in flight (the closed model's connections). */
  connections: number;
  /** Length of each run (after a 500 ms warm-up). */
  runMs: number;
  runs: number;
  nextSeed: () => number;
}

/**
 * The service's capacity: the closed model's throughput (`connections` requests always in
 * flight, each sent when one is answered), the best of `runs` runs. A stall of the machine
 * lowers one run's throughput by its share of the run, where it fails a latency threshold
 * outright, so this is the knee of an experiment that must overload the service: twice it
 * is twice what the service serves. Every run is a step, passed, at its measured rate; an
 * unrecorded run comes first.
 */
export async function measureCapacity(
  service: ServiceProcess,
  options: CapacityOptions,
): Promise<KneeResult> {
  const steps: KneeStep[] = [];
  // A fresh service is slower (compiling, cold caches and pools): one unrecorded run first.
  for (let i = -1; i < options.runs; i++) {
    const result = await load({
      url: service.url,
      mix: options.mix,
      connections: options.connections,
      durationMs: options.runMs,
      warmupMs: 500,
      timeoutMs: 5000,
      seed: options.nextSeed(),
    });
    if (i < 0) continue;
    steps.push({
      rate: Math.round(result.requestsPerSecond),
      isPassed: true,
      result,
      isGeneratorLate: result.generator.isBottleneck,
    });
  }
  const best = Math.max(...steps.map((st) => st.rate));
  return { rate: best > 0 ? best : null, steps };
}

export interface RoundOptions {
  mix: RequestMix;
  rate: number;
  connections: number;
  warmupMs: number;
  durationMs: number;
  /** Seeds of the warm-up's and the round's placeholders (`{{uuid}}`, `{{int}}`). */
  seeds: readonly [number, number];
  /** Statuses that are refusals by design. */
  refusals: readonly number[];
}

const QUERIES = 'payments_db_queries_total';
const LOOP_P99 = 'nodejs_eventloop_delay_p99_seconds';

function cpuSeconds(pid: number): number {
  const t = processCpuTimes(pid);
  return t.user + t.system;
}

/**
 * Warms up, then measures `durationMs` at `rate` in the open model (`hotpath load <url>
 * --requests <mix> --rate R -d D`). The CPU and query counters are read just outside the
 * measured window, so the warm-up is not in them.
 */
export async function measureRound(
  service: ServiceProcess,
  options: RoundOptions,
): Promise<{ figures: RoundFigures; result: LoadResult }> {
  const common = {
    url: service.url,
    mix: options.mix,
    rate: options.rate,
    connections: options.connections,
    timeoutMs: 5000,
  };
  if (options.warmupMs > 0)
    await load({ ...common, durationMs: options.warmupMs, seed: options.seeds[0] });
  const before = await scrape(service.url, [QUERIES]);
  const cpuBefore = cpuSeconds(service.pid);
  const result = await load({ ...common, durationMs: options.durationMs, seed: options.seeds[1] });
  const cpuAfter = cpuSeconds(service.pid);
  const after = await scrape(service.url, [QUERIES, LOOP_P99]);
  const requests = result.completed;
  let ok = 0;
  let refused = 0;
  for (const [code, count] of Object.entries(result.statuses)) {
    if (code.startsWith('2')) ok += count;
    else if (options.refusals.includes(Number(code))) refused += count;
  }
  const attempts = Math.max(
    1,
    requests + result.errors.connect + result.errors.timeout + result.errors.reset,
  );
  // Whole seconds only: the last, partial one holds few responses.
  const seconds = result.timeline.filter((p) => p.durationMs >= 1000 && p.requests > 0);
  const p50Rise = seconds.length >= 2 ? (seconds.at(-1)!.p50 - seconds[0]!.p50) / 1000 : NaN;
  const failures = result.errors.connect + result.errors.timeout + result.errors.reset;
  const measuredSeconds = result.durationMs / 1000;
  const perRequest = (x: number) => (requests > 0 ? x / requests : NaN);
  return {
    result,
    figures: {
      requests,
      rps: result.requestsPerSecond,
      goodput: ok / measuredSeconds,
      errorShare: (requests - ok - refused + failures) / attempts,
      refusedShare: refused / attempts,
      limitedShare: (result.statuses['429'] ?? 0) / attempts,
      shedShare: (result.statuses['503'] ?? 0) / attempts,
      p50Ms: (result.latency.percentiles['50'] ?? NaN) / 1000,
      p99Ms: (result.latency.percentiles['99'] ?? NaN) / 1000,
      admittedP99Ms: (result.byStatusClass?.['2xx']?.percentiles['99'] ?? NaN) / 1000,
      p50RiseMs: p50Rise,
      cpuPerRequestMs: perRequest((cpuAfter - cpuBefore) * 1000),
      queriesPerRequest: perRequest((after[QUERIES] ?? NaN) - (before[QUERIES] ?? NaN)),
      bytesPerResponse: perRequest(result.bytesRead),
      eventLoopP99Ms: (after[LOOP_P99] ?? NaN) * 1000,
      rssMb: residentMb(service.pid),
    },
  };
}
