/**
 * Collects one run's measurements: two latency histograms (from the intended and from the
 * actual send time), counters, and a per-second timeline. Memory does not grow with the
 * number of requests: histograms have a fixed bucket array, the timeline one small point per
 * second.
 */
import { Histogram, type HistogramSnapshot } from '../metrics/index.js';
import type {
  CheckCounts,
  ErrorCounts,
  LatencySummary,
  NamedResult,
  TimelinePoint,
} from './result.js';
import { PERCENTILES } from './result.js';
import type { FailureKind } from './connection.js';

/** One hour in microseconds: the largest latency tracked exactly. */
const HIGHEST_US = 3_600_000_000;

/** A histogram of microseconds with the layout every load result uses (so merges are exact). */
export function latencyHistogram(): Histogram {
  return new Histogram({ lowest: 1, highest: HIGHEST_US, precision: 0.01 });
}

/** Summarizes a microsecond histogram. */
export function summarize(h: Histogram): LatencySummary {
  const percentiles: Record<string, number> = {};
  for (const p of PERCENTILES) percentiles[String(p)] = Math.round(h.percentile(p));
  return {
    count: h.count,
    min: h.count === 0 ? 0 : h.min,
    max: h.count === 0 ? 0 : h.max,
    mean: Math.round(h.mean * 10) / 10,
    stdev: Math.round(h.stdev * 10) / 10,
    percentiles,
    histogram: h.snapshot(),
  };
}

/** The raw data of one second, as workers send it to be merged. */
export interface SecondSample {
  second: number;
  durationMs: number;
  requests: number;
  errors: number;
  non2xx: number;
  bytesRead: number;
  targetRate: number | null;
  histogram: HistogramSnapshot;
  /** Responses that failed a check in this second. */
  checksFailed?: number;
}

/** The counters and latency histogram of one request name. */
class NameStats {
  readonly latency = latencyHistogram();
  sent = 0;
  completed = 0;
  readonly statuses = new Float64Array(1000);
  readonly errors: ErrorCounts = { connect: 0, timeout: 0, reset: 0 };
  checked = 0;
  failed = 0;
  failures: Record<string, number> = {};

  reset(): void {
    this.latency.reset();
    this.sent = this.completed = this.checked = this.failed = 0;
    this.statuses.fill(0);
    this.errors.connect = this.errors.timeout = this.errors.reset = 0;
    this.failures = {};
  }
}

function statusCounts(counts: Float64Array): Record<string, number> {
  const out: Record<string, number> = {};
  for (let code = 0; code < counts.length; code++) {
    const n = counts[code]!;
    if (n > 0) out[String(code)] = n;
  }
  return out;
}

/** Measurement sink for one run (one thread). */
export class Stats {
  readonly intended = latencyHistogram();
  /** Open model only: in the closed model the two coincide and `intended` serves for both. */
  readonly actual = latencyHistogram();
  /** Closed model: the extra values back-filled for coordinated omission. */
  readonly #backfill = latencyHistogram();
  readonly #second = latencyHistogram();
  readonly #isClosed: boolean;
  completed = 0;
  bytesRead = 0;
  // Indexed by status code: cheaper than a Map on the per-response path.
  readonly #statuses = new Float64Array(1000);
  readonly errors: ErrorCounts = { connect: 0, timeout: 0, reset: 0 };
  #secRequests = 0;
  #secErrors = 0;
  #secNon2xx = 0;
  #secBytes = 0;
  #secChecksFailed = 0;
  /** Expected interval between a connection's requests (µs), for the back-fill; 0 = off. */
  expectedIntervalUs = 0;
  readonly #names: string[];
  readonly #byName: NameStats[];
  /** Latency by status class (index 2 for 2xx), made on a class's first response. */
  readonly #byClass: (Histogram | undefined)[] = [];

  /**
   * `names` are the request names, indexed by the slot each record call passes (several
   * slots may not share a name: map entries to slots first).
   */
  constructor(model: 'open' | 'closed' = 'open', names: readonly string[] = ['']) {
    this.#isClosed = model === 'closed';
    this.#names = [...names];
    this.#byName = names.map(() => new NameStats());
  }

  /** Counts one measured request of name slot `slot` written to a socket. */
  recordSent(slot: number): void {
    this.#byName[slot]!.sent++;
  }

  /** Records a check's verdict on a response of slot `slot`: null passed, else the failed check. */
  recordCheck(slot: number, failure: string | null): void {
    const n = this.#byName[slot]!;
    n.checked++;
    if (failure === null) return;
    n.failed++;
    n.failures[failure] = (n.failures[failure] ?? 0) + 1;
    this.#secChecksFailed++;
  }

  /** Records one response of name slot `slot`. Latencies in microseconds. */
  recordResponse(
    intendedUs: number,
    actualUs: number,
    status: number,
    bytes: number,
    slot = 0,
  ): void {
    intendedUs = Math.round(intendedUs);
    this.intended.record(intendedUs);
    const named = this.#byName[slot]!;
    named.latency.record(intendedUs);
    named.completed++;
    named.statuses[status]!++;
    const cls = (status / 100) | 0;
    (this.#byClass[cls] ??= latencyHistogram()).record(intendedUs);
    if (!this.#isClosed) this.actual.record(Math.round(actualUs));
    this.#second.record(intendedUs);
    this.completed++;
    this.bytesRead += bytes;
    this.#secRequests++;
    this.#secBytes += bytes;
    if (status < 200 || status > 299) this.#secNon2xx++;
    this.#statuses[status]!++;
    const expected = this.expectedIntervalUs;
    if (expected > 0 && intendedUs >= 2 * expected) {
      // HdrHistogram's recordValueWithExpectedInterval: the requests a constant-rate client
      // would have issued while this one was stalled, each waiting a bit less.
      let missed = intendedUs - expected;
      for (let n = 0; missed >= expected && n < 100_000; n++, missed -= expected) {
        this.#backfill.record(missed);
      }
    }
  }

  /** Responses by status code, ascending. */
  statuses(): Record<string, number> {
    return statusCounts(this.#statuses);
  }

  /**
   * Latency (from the intended send) of the responses of each status class seen, keyed
   * `'2xx'`, `'4xx'`, ...: admitted requests apart from refusals.
   */
  byStatusClass(): Record<string, LatencySummary> {
    const out: Record<string, LatencySummary> = {};
    this.#byClass.forEach((h, cls) => {
      if (h !== undefined && h.count > 0) out[`${cls}xx`] = summarize(h);
    });
    return out;
  }

  /** Check counts over every name. */
  checks(): CheckCounts {
    const total: CheckCounts = { checked: 0, failed: 0, failures: {} };
    for (const n of this.#byName) {
      total.checked += n.checked;
      total.failed += n.failed;
      for (const [k, v] of Object.entries(n.failures))
        total.failures[k] = (total.failures[k] ?? 0) + v;
    }
    return total;
  }

  /** The figures per name over `durationMs` of measured time. */
  byName(durationMs: number): Record<string, NamedResult> {
    const out: Record<string, NamedResult> = {};
    this.#byName.forEach((n, i) => {
      out[this.#names[i]!] = {
        sent: n.sent,
        completed: n.completed,
        requestsPerSecond: durationMs > 0 ? (n.completed * 1000) / durationMs : 0,
        statuses: statusCounts(n.statuses),
        errors: { ...n.errors },
        checks: { checked: n.checked, failed: n.failed, failures: { ...n.failures } },
        latency: summarize(n.latency),
      };
    });
    return out;
  }

  /** Closed model: the measured latencies plus the back-filled ones. */
  corrected(): Histogram {
    const h = latencyHistogram();
    h.merge(this.intended);
    h.merge(this.#backfill);
    return h;
  }

  /** Records one failed request of name slot `slot`. */
  recordFailure(kind: FailureKind, slot = 0): void {
    this.errors[kind]++;
    this.#byName[slot]!.errors[kind]++;
    this.#secErrors++;
  }

  /** Ends the current second and returns its raw sample. */
  takeSecond(second: number, targetRate: number | null, durationMs = 1000): SecondSample {
    const sample: SecondSample = {
      second,
      durationMs,
      requests: this.#secRequests,
      errors: this.#secErrors,
      non2xx: this.#secNon2xx,
      bytesRead: this.#secBytes,
      targetRate,
      histogram: this.#second.snapshot(),
      checksFailed: this.#secChecksFailed,
    };
    this.#second.reset();
    this.#secChecksFailed = 0;
    this.#secRequests = 0;
    this.#secErrors = 0;
    this.#secNon2xx = 0;
    this.#secBytes = 0;
    return sample;
  }

  /** Forgets everything (end of warm-up). */
  reset(): void {
    this.intended.reset();
    this.actual.reset();
    this.#backfill.reset();
    this.#second.reset();
    this.completed = 0;
    this.bytesRead = 0;
    this.#statuses.fill(0);
    this.errors.connect = this.errors.timeout = this.errors.reset = 0;
    this.#secRequests = this.#secErrors = this.#secNon2xx = this.#secBytes = 0;
    this.#secChecksFailed = 0;
    for (const n of this.#byName) n.reset();
    for (const h of this.#byClass) h?.reset();
  }
}

/**
 * Merges second samples (from one or several threads) into timeline points. Seconds older
 * than the newest minus `settleSeconds` are turned into points as soon as a newer sample
 * arrives, so memory holds a few histograms, not one per second of the run.
 */
export class TimelineBuilder {
  readonly #open = new Map<number, { sample: SecondSample; h: Histogram }>();
  readonly #points: TimelinePoint[] = [];
  readonly #settleSeconds: number;

  constructor(settleSeconds = 3) {
    this.#settleSeconds = settleSeconds;
  }

  /** Adds one thread's sample of one second. */
  add(s: SecondSample): void {
    const entry = this.#open.get(s.second);
    if (entry === undefined) {
      const h = latencyHistogram();
      h.merge(s.histogram);
      this.#open.set(s.second, { sample: { ...s }, h });
    } else {
      entry.h.merge(s.histogram);
      entry.sample.requests += s.requests;
      entry.sample.errors += s.errors;
      entry.sample.non2xx += s.non2xx;
      entry.sample.bytesRead += s.bytesRead;
      entry.sample.checksFailed = (entry.sample.checksFailed ?? 0) + (s.checksFailed ?? 0);
      entry.sample.durationMs = Math.max(entry.sample.durationMs, s.durationMs);
      if (s.targetRate !== null)
        entry.sample.targetRate = (entry.sample.targetRate ?? 0) + s.targetRate;
    }
    for (const second of this.#open.keys()) {
      if (second < s.second - this.#settleSeconds) this.#settle(second);
    }
  }

  /** The latest complete second's point, if any (for live progress). */
  latest(second: number): TimelinePoint | undefined {
    const entry = this.#open.get(second);
    return entry === undefined ? this.#points.find((p) => p.second === second) : toPoint(entry);
  }

  /** Every point, in order. */
  points(): TimelinePoint[] {
    for (const second of [...this.#open.keys()]) this.#settle(second);
    return [...this.#points].sort((a, b) => a.second - b.second);
  }

  #settle(second: number): void {
    const entry = this.#open.get(second);
    if (entry === undefined) return;
    this.#open.delete(second);
    this.#points.push(toPoint(entry));
  }
}

function toPoint({ sample, h }: { sample: SecondSample; h: Histogram }): TimelinePoint {
  return {
    second: sample.second,
    durationMs: Math.round(sample.durationMs),
    requests: sample.requests,
    errors: sample.errors,
    non2xx: sample.non2xx,
    bytesRead: sample.bytesRead,
    p50: Math.round(h.percentile(50)),
    p99: Math.round(h.percentile(99)),
    max: h.count === 0 ? 0 : h.max,
    targetRate: sample.targetRate,
    checksFailed: sample.checksFailed ?? 0,
  };
}
