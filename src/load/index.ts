/**
 * @module hotpath/load
 * A load generator that tells the truth about latency. The open model sends requests at a
 * constant (or ramped) arrival rate and times each from its intended send time, so a stalled
 * server cannot hide behind coordinated omission; the closed model keeps N keep-alive
 * connections busy (optionally pipelined) and flags results that coordinated omission
 * distorted. Both report HDR percentiles from the intended and the actual send time, a
 * per-second timeline and whether the generator itself was the bottleneck. Results are plain
 * JSON: merge them across threads, processes or machines, compare two runs, gate CI on
 * thresholds, render a self-contained HTML report.
 *
 * Each request-mix entry has a name the results break down by (latency histogram, statuses,
 * errors, failed checks), and optional response checks (statuses, JSON paths).
 *
 * It speaks HTTP/1.1 over TCP or TLS and follows no redirects; it parses response bodies only
 * of entries with a JSON check. The `hotpath load` command is a thin shell over this module.
 */
export { load } from './load.js';
export { LoadWorkerError, LoadMergeError } from './errors.js';
export type { LoadProgress, LoadControls } from './load.js';
export type { LoadResponse } from './engine.js';
export type { LoadOptions, Stage } from './options.js';
export type {
  LoadResult,
  LatencySummary,
  TimelinePoint,
  ErrorCounts,
  GeneratorHealth,
  CoordinatedOmission,
  NamedResult,
  CheckCounts,
} from './result.js';
export { PERCENTILES } from './result.js';
export { mergeResults } from './merge.js';
export {
  createMixSource,
  readMixFile,
  validateMix,
  seededRandom,
  requestName,
} from './request-mix.js';
export type {
  RequestMix,
  MixEntry,
  ResponseCheck,
  RequestSource,
  RenderedRequest,
  RequestBaseOptions,
} from './request-mix.js';
export { parseThreshold, checkThresholds, unknownThresholdNames } from './thresholds.js';
export type { Threshold, ThresholdOutcome } from './thresholds.js';
export { compareResults } from './compare.js';
export type { ComparedMetric, Comparison } from './compare.js';
export { renderHtmlReport } from './report-html.js';
export type { HtmlReportOptions } from './report-html.js';
export { findMaxRate } from './find-max.js';
export type { FindMaxOptions, FindMaxResult, FindMaxStep } from './find-max.js';
export { formatResult, formatComparison, formatProgress, formatByName } from './format.js';
export { ProgressLine } from './progress-line.js';
export type { ProgressStream, ProgressLineOptions } from './progress-line.js';
export { parseDuration, formatMicros, formatBytes } from './units.js';
