/**
 * Merging results of one test run by several threads, processes or machines. Histograms merge
 * exactly (same bucket layout), so merged percentiles equal those of one histogram fed every
 * response; counts add up.
 */
import { InvalidOptionError } from '../errors/index.js';
import type { HistogramSnapshot } from '../metrics/index.js';
import type { LatencySummary, LoadResult, TimelinePoint } from './result.js';
import { latencyHistogram, summarize } from './stats.js';

function mergeSummaries(parts: LatencySummary[]): LatencySummary {
  const h = latencyHistogram();
  for (const p of parts) h.merge(p.histogram as HistogramSnapshot);
  return summarize(h);
}

/**
 * Merges per-second points of several results by second. Counts add up; `max` is exact; the
 * per-second `p50` is the request-weighted mean of the parts' and `p99` the largest part's (an
 * upper bound), since points keep no histogram. {@link load} with `workers` builds its
 * timeline from per-second histograms instead, which is exact.
 */
function mergeTimelines(timelines: TimelinePoint[][]): TimelinePoint[] {
  const by = new Map<number, TimelinePoint & { weighted: number }>();
  for (const t of timelines) {
    for (const p of t) {
      const e = by.get(p.second);
      if (e === undefined) by.set(p.second, { ...p, weighted: p.p50 * p.requests });
      else {
        e.requests += p.requests;
        e.errors += p.errors;
        e.non2xx += p.non2xx;
        e.bytesRead += p.bytesRead;
        e.durationMs = Math.max(e.durationMs, p.durationMs);
        e.weighted += p.p50 * p.requests;
        e.p99 = Math.max(e.p99, p.p99);
        e.max = Math.max(e.max, p.max);
        if (p.targetRate !== null) e.targetRate = (e.targetRate ?? 0) + p.targetRate;
      }
    }
  }
  return [...by.values()]
    .sort((a, b) => a.second - b.second)
    .map(({ weighted, ...p }) => ({ ...p, p50: p.requests > 0 ? weighted / p.requests : 0 }));
}

/**
 * Merges the results of parts of one load test (run at the same time against the same target)
 * into one result: counts and bytes add up, latency histograms merge exactly, the duration is
 * the longest part's, the rate and connections add up.
 * @throws {@link InvalidOptionError} `HP_ERR_INVALID_OPTION` when `results` is empty or a part
 * is not a load result.
 * @example
 * ```ts
 * const total = mergeResults([JSON.parse(a), JSON.parse(b)]);
 * total.latency.percentiles['99'];
 * ```
 */
export function mergeResults(results: readonly LoadResult[]): LoadResult {
  if (results.length === 0) throw new InvalidOptionError('results', 'nothing to merge');
  results.forEach((r, i) => {
    if (r === null || typeof r !== 'object' || r.v !== 1 || r.latency?.histogram === undefined) {
      throw new InvalidOptionError(`results[${i}]`, 'not a hotpath load result (v1)');
    }
  });
  const first = results[0]!;
  const sum = (f: (r: LoadResult) => number) => results.reduce((t, r) => t + f(r), 0);
  const durationMs = Math.max(...results.map((r) => r.durationMs));
  const completed = sum((r) => r.completed);
  const statuses: Record<string, number> = {};
  for (const r of results) {
    for (const [k, v] of Object.entries(r.statuses)) statuses[k] = (statuses[k] ?? 0) + v;
  }
  const latency = mergeSummaries(results.map((r) => r.latency));
  const actualLatency = mergeSummaries(results.map((r) => r.actualLatency));
  const co = results.map((r) => r.coordinatedOmission).filter((c) => c !== null);
  const warnings = [...new Set(results.flatMap((r) => r.generator.warnings))];
  return {
    v: 1,
    url: first.url,
    model: first.model,
    connections: sum((r) => r.connections),
    pipelining: first.pipelining,
    rate: results.every((r) => r.rate === null) ? null : sum((r) => r.rate ?? 0),
    workers: sum((r) => r.workers),
    startedAt: results.map((r) => r.startedAt).sort()[0]!,
    durationMs,
    sent: sum((r) => r.sent),
    completed,
    // Each part's rate over its own duration, added: parts ran side by side.
    requestsPerSecond: sum((r) => r.requestsPerSecond),
    bytesRead: sum((r) => r.bytesRead),
    bytesWritten: sum((r) => r.bytesWritten),
    statuses,
    errors: {
      connect: sum((r) => r.errors.connect),
      timeout: sum((r) => r.errors.timeout),
      reset: sum((r) => r.errors.reset),
    },
    latency,
    actualLatency,
    coordinatedOmission:
      co.length === 0
        ? null
        : {
            correctedP99: Math.max(...co.map((c) => c.correctedP99)),
            correctedP999: Math.max(...co.map((c) => c.correctedP999)),
            isAffected: co.some((c) => c.isAffected),
          },
    timeline: mergeTimelines(results.map((r) => r.timeline)),
    generator: {
      eventLoopUtilization: Math.max(...results.map((r) => r.generator.eventLoopUtilization)),
      cpuSeconds: sum((r) => r.generator.cpuSeconds),
      lateSends: sum((r) => r.generator.lateSends),
      sendLagP99: Math.max(...results.map((r) => r.generator.sendLagP99)),
      waitedForConnection: sum((r) => r.generator.waitedForConnection),
      isBottleneck: results.some((r) => r.generator.isBottleneck),
      warnings,
    },
    isInterrupted: results.some((r) => r.isInterrupted),
    unfinished: sum((r) => r.unfinished),
  };
}
