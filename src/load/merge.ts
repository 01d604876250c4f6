/**
 * Merging results of one test run by several threads, processes or machines. Histograms merge
 * exactly (same bucket layout), so merged percentiles equal those of one histogram fed every
 * response; counts add up.
 */
import { InvalidOptionError } from '../errors/index.js';
import { Histogram, type HistogramSnapshot } from '../metrics/index.js';
import { LoadMergeError } from './errors.js';
import type {
  CheckCounts,
  ErrorCounts,
  LatencySummary,
  LoadResult,
  NamedResult,
  TimelinePoint,
} from './result.js';
import { summarize } from './stats.js';

/** Merges summaries whose histograms share one layout (checked by {@link checkCompatible}). */
function mergeSummaries(parts: LatencySummary[]): LatencySummary {
  const { lowest, highest, precision } = parts[0]!.histogram;
  const h = new Histogram({ lowest, highest, precision });
  for (const p of parts) h.merge(p.histogram);
  return summarize(h);
}

/** Every histogram of a result, with where it sits (for error messages). */
function histogramsOf(r: LoadResult): [string, HistogramSnapshot][] {
  const out: [string, HistogramSnapshot][] = [
    ['latency', r.latency.histogram],
    ['actualLatency', r.actualLatency.histogram],
  ];
  for (const [name, n] of Object.entries(r.byName ?? {}))
    out.push([`byName[${JSON.stringify(name)}].latency`, n.latency.histogram]);
  for (const [cls, l] of Object.entries(r.byStatusClass ?? {}))
    out.push([`byStatusClass[${JSON.stringify(cls)}]`, l.histogram]);
  return out;
}

/**
 * Throws {@link LoadMergeError} unless every part's histograms have part 0's layout and every
 * part's latencies the same time base (unit, and origin: the model).
 */
function checkCompatible(results: readonly LoadResult[]): void {
  const first = results[0]!;
  const layout = first.latency.histogram;
  const describe = (h: HistogramSnapshot) =>
    `lowest ${h.lowest}, highest ${h.highest}, precision ${h.precision}`;
  results.forEach((r, i) => {
    const unit = r.latencyUnit ?? 'us';
    if (unit !== (first.latencyUnit ?? 'us'))
      throw new LoadMergeError(i, `latencies in ${unit}, result 0 in ${first.latencyUnit ?? 'us'}`);
    if (r.model !== first.model)
      throw new LoadMergeError(
        i,
        `${r.model} model (latency from the ${r.model === 'open' ? 'intended' : 'actual'} send) and result 0 ${first.model} model: their latencies have different origins`,
      );
    for (const [where, h] of histogramsOf(r)) {
      if (
        h === null ||
        typeof h !== 'object' ||
        h.lowest !== layout.lowest ||
        h.highest !== layout.highest ||
        h.precision !== layout.precision
      ) {
        throw new LoadMergeError(
          i,
          `histogram ${where} has layout ${h === null || typeof h !== 'object' ? 'none' : describe(h)}, result 0 ${describe(layout)}`,
        );
      }
    }
  });
}

function addErrors(into: ErrorCounts, e: ErrorCounts): void {
  into.connect += e.connect;
  into.timeout += e.timeout;
  into.reset += e.reset;
}

function addChecks(into: CheckCounts, c: CheckCounts): void {
  into.checked += c.checked;
  into.failed += c.failed;
  for (const [k, v] of Object.entries(c.failures)) into.failures[k] = (into.failures[k] ?? 0) + v;
}

function addStatuses(into: Record<string, number>, s: Record<string, number>): void {
  for (const [k, v] of Object.entries(s)) into[k] = (into[k] ?? 0) + v;
}

/** Merges the latency by status class of parts that all have it; a class absent from a part is empty there. */
function mergeByStatusClass(
  results: readonly LoadResult[],
): Record<string, LatencySummary> | undefined {
  if (!results.every((r) => r.byStatusClass !== undefined)) return undefined;
  const parts = new Map<string, LatencySummary[]>();
  for (const r of results)
    for (const [cls, l] of Object.entries(r.byStatusClass!)) {
      const list = parts.get(cls) ?? [];
      list.push(l);
      parts.set(cls, list);
    }
  const out: Record<string, LatencySummary> = {};
  for (const cls of [...parts.keys()].sort()) out[cls] = mergeSummaries(parts.get(cls)!);
  return out;
}

/** Merges the per-name figures of parts that all have them; names absent from a part count 0. */
function mergeByName(results: readonly LoadResult[]): Record<string, NamedResult> | undefined {
  if (!results.every((r) => r.byName !== undefined)) return undefined;
  const parts = new Map<string, NamedResult[]>();
  for (const r of results)
    for (const [name, n] of Object.entries(r.byName!)) {
      const list = parts.get(name) ?? [];
      list.push(n);
      parts.set(name, list);
    }
  const out: Record<string, NamedResult> = {};
  for (const [name, list] of parts) {
    const merged: NamedResult = {
      sent: 0,
      completed: 0,
      requestsPerSecond: 0,
      statuses: {},
      errors: { connect: 0, timeout: 0, reset: 0 },
      checks: { checked: 0, failed: 0, failures: {} },
      latency: mergeSummaries(list.map((n) => n.latency)),
    };
    for (const n of list) {
      merged.sent += n.sent;
      merged.completed += n.completed;
      // Parts ran side by side: their rates add up.
      merged.requestsPerSecond += n.requestsPerSecond;
      addStatuses(merged.statuses, n.statuses);
      addErrors(merged.errors, n.errors);
      addChecks(merged.checks, n.checks);
    }
    out[name] = merged;
  }
  return out;
}

/**
 * Merges per-second points of several results by second. Counts add up; `max` is exact; the
 * per-second `p50` is the request-weighted mean of the parts' and `p99` the largest part's (an
 * upper bound), since points keep no histogram. {@link load} with `workers` builds its
 * timeline from per-second histograms instead, which is exact.
 */
function mergeTimelines(timelines: TimelinePoint[][], offsets: number[]): TimelinePoint[] {
  const by = new Map<number, TimelinePoint & { weighted: number }>();
  timelines.forEach((t, i) => {
    for (const point of t) {
      // Seconds are counted from each part's own start: align them on the wall clock.
      const p = { ...point, second: point.second + offsets[i]! };
      const e = by.get(p.second);
      if (e === undefined) by.set(p.second, { ...p, weighted: p.p50 * p.requests });
      else {
        e.requests += p.requests;
        if (p.checksFailed !== undefined) e.checksFailed = (e.checksFailed ?? 0) + p.checksFailed;
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
  });
  return [...by.values()]
    .sort((a, b) => a.second - b.second)
    .map(({ weighted, ...p }) => ({ ...p, p50: p.requests > 0 ? weighted / p.requests : 0 }));
}

/**
 * Merges the results of parts of one load test (run at the same time against the same target)
 * into one result: counts and bytes add up, latency histograms (overall, per request name and
 * per status class) merge exactly, the duration is the longest part's, the rate and connections add up, and the
 * timelines are aligned on each part's `startedAt`.
 * @throws {@link InvalidOptionError} `HP_ERR_INVALID_OPTION` when `results` is empty or a part
 * is not a load result.
 * @throws {@link LoadMergeError} `HP_ERR_LOAD_MERGE_MISMATCH` when parts' histogram layouts or
 * latency time bases (unit, intended or actual send) differ.
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
  checkCompatible(results);
  const first = results[0]!;
  const starts = results.map((r) => Date.parse(r.startedAt));
  const earliest = Math.min(...starts.filter((t) => Number.isFinite(t)));
  const offsets = starts.map((t) =>
    Number.isFinite(t) && Number.isFinite(earliest) ? Math.round((t - earliest) / 1000) : 0,
  );
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
    timeline: mergeTimelines(
      results.map((r) => r.timeline),
      offsets,
    ),
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
    latencyUnit: 'us',
    ...optional('byName', mergeByName(results)),
    ...optional('checks', mergeChecks(results)),
    ...optional('byStatusClass', mergeByStatusClass(results)),
  };
}

function optional<K extends string, V>(key: K, value: V | undefined): { [k in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [k in K]?: V };
}

function mergeChecks(results: readonly LoadResult[]): CheckCounts | undefined {
  if (!results.every((r) => r.checks !== undefined)) return undefined;
  const total: CheckCounts = { checked: 0, failed: 0, failures: {} };
  for (const r of results) addChecks(total, r.checks!);
  return total;
}
