/**
 * The shape of a load test's result: what `--json` writes, what {@link mergeResults},
 * {@link compareResults} and the HTML report read. Latencies are microseconds.
 */
import type { HistogramSnapshot } from '../metrics/index.js';

/** Percentiles every summary reports (0..100). */
export const PERCENTILES = [50, 75, 90, 95, 99, 99.9, 99.99] as const;

/** A latency distribution, in microseconds. */
export interface LatencySummary {
  count: number;
  min: number;
  max: number;
  mean: number;
  stdev: number;
  /** Keys are the percentiles of {@link PERCENTILES} as strings ("50", "99.9"). */
  percentiles: Record<string, number>;
  /** The full histogram, for exact merging. */
  histogram: HistogramSnapshot;
}

/** One second of the run. */
export interface TimelinePoint {
  /** Seconds since the measured part of the run began (0-based). */
  second: number;
  /** Length of this point's interval: 1000, less for the run's last, partial second. */
  durationMs: number;
  /** Responses completed in this second. */
  requests: number;
  /** Failures (connect, timeout, reset) in this second; non-2xx responses are in `non2xx`. */
  errors: number;
  non2xx: number;
  bytesRead: number;
  /** Latency from the intended send time of the responses completed in this second (µs). */
  p50: number;
  p99: number;
  max: number;
  /** Target arrival rate in this second (open model), else null. */
  targetRate: number | null;
  /** Responses that failed a check in this second (absent in older files). */
  checksFailed?: number;
}

/** Failures by kind. */
export interface ErrorCounts {
  /** The TCP/TLS connection could not be opened. */
  connect: number;
  /** No complete response within the timeout. */
  timeout: number;
  /** The connection closed or broke with requests in flight (or sent a malformed response). */
  reset: number;
}

/** What the generator knows about its own health. */
export interface GeneratorHealth {
  /** Event-loop utilization over the run (0..1) of the busiest generator thread. */
  eventLoopUtilization: number;
  /** CPU time the generator process used (user + system), in seconds. */
  cpuSeconds: number;
  /** Open model: requests sent more than 5 ms after their intended time although a connection was free. */
  lateSends: number;
  /** Open model: p99 of the lag between intended and actual send when a connection was free (µs). */
  sendLagP99: number;
  /** Open model: requests that waited for a free connection (all `connections` busy). */
  waitedForConnection: number;
  /** Whether the generator fell behind its schedule or saturated its core. */
  isBottleneck: boolean;
  /** Plain sentences for the reader, empty when all is well. */
  warnings: string[];
}

/** Response checks (see the request mix's `check`): how many responses were judged, how many failed. */
export interface CheckCounts {
  /** Responses judged by a check (answered requests of entries that have one). */
  checked: number;
  /** Responses that failed a check; transport errors are not counted here. */
  failed: number;
  /** Failed responses by the first check they failed: `status` or a JSON path. */
  failures: Record<string, number>;
}

/** The figures of the requests of one name (a request-mix entry's `name`, or `METHOD path`). */
export interface NamedResult {
  /** Requests of this name written to a socket. */
  sent: number;
  /** Responses received (any status). */
  completed: number;
  /** Completed responses per second over the measured time. */
  requestsPerSecond: number;
  /** Responses by status code. */
  statuses: Record<string, number>;
  errors: ErrorCounts;
  checks: CheckCounts;
  /** Latency from the intended send time (as the run's `latency`), with its histogram. */
  latency: LatencySummary;
}

/** Closed model: an estimate of what coordinated omission hid. */
export interface CoordinatedOmission {
  /** p99 corrected by back-filling the requests a constant-rate client would have sent (µs). */
  correctedP99: number;
  correctedP999: number;
  /** Whether the correction changed p99 enough to matter (see docs/load.md). */
  isAffected: boolean;
}

/** The result of one load test (or of several merged). */
export interface LoadResult {
  /** Format version. */
  v: 1;
  url: string;
  model: 'open' | 'closed';
  connections: number;
  pipelining: number;
  /** Open model: the final target rate (requests/s); null in the closed model. */
  rate: number | null;
  workers: number;
  startedAt: string;
  /** Measured wall time, excluding warm-up and drain (ms). */
  durationMs: number;
  /** Requests written to a socket. */
  sent: number;
  /** Responses received (any status). */
  completed: number;
  /** Completed responses per second over the measured time. */
  requestsPerSecond: number;
  bytesRead: number;
  bytesWritten: number;
  /** Responses by status code. */
  statuses: Record<string, number>;
  errors: ErrorCounts;
  /** Latency from the intended send time (open model); equals `actual` in the closed model. */
  latency: LatencySummary;
  /** Latency from the moment the request was written. */
  actualLatency: LatencySummary;
  coordinatedOmission: CoordinatedOmission | null;
  timeline: TimelinePoint[];
  generator: GeneratorHealth;
  /** The run was stopped early (signal or Ctrl-C); the figures cover the time until then. */
  isInterrupted: boolean;
  /** Requests still in flight when the run ended, neither answered nor failed. */
  unfinished: number;
  /**
   * Unit of every latency and histogram: microseconds. Absent in files written before it was
   * added (which also hold microseconds).
   */
  latencyUnit?: 'us';
  /**
   * Figures per request name, keyed by name. Absent in files written before names existed.
   */
  byName?: Record<string, NamedResult>;
  /** Response checks over all names; absent in files written before checks existed. */
  checks?: CheckCounts;
  /**
   * Latency from the intended send time of the responses of each status class, keyed
   * `'2xx'`, `'4xx'`, `'5xx'` (only classes answered): the latency of admitted requests
   * (2xx) apart from fast refusals (429, 503). Failures without a response are in none.
   * Absent in files written before it was added.
   */
  byStatusClass?: Record<string, LatencySummary>;
}
