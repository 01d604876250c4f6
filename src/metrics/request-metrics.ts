import { monotonicClock, type Clock } from '../internal/clock.js';
import { checkNumber } from '../internal/validate-options.js';
import { InvalidOptionError } from '../errors/index.js';
import type { Histogram } from './histogram.js';
import type { HistogramMetric } from './histogram-metric.js';
import { OTHER_LABEL, type Counter, type CounterValue, type Gauge } from './metric.js';
import { MetricsRegistry } from './registry.js';
import { WindowedHistogram } from './windowed-histogram.js';

/** Route label of requests that matched no route (a 404 from the router). */
export const UNMATCHED_ROUTE = 'unmatched';

/** What a slow-request log line carries. */
export interface SlowRequest {
  method: string;
  route: string;
  statusCode: number;
  durationMs: number;
}

/** A pino-compatible logger: only `warn(object, message)` is used. */
export interface SlowRequestLogger {
  warn(details: SlowRequest, message: string): void;
}

/** Options of {@link RequestMetrics}. */
export interface RequestMetricsOptions {
  /** Registry the request metrics go into. @defaultValue a new {@link MetricsRegistry} */
  registry?: MetricsRegistry;
  /** Prefix of the metric names. @defaultValue `'http_'` */
  prefix?: string;
  /**
   * Cardinality cap on route templates: past this many, new routes are recorded as `other`
   * and counted in `<prefix>routes_folded_total`.
   * @defaultValue 200
   */
  maxRoutes?: number;
  /**
   * Requests at least this slow are logged (route, method, status, duration). `Infinity`
   * turns the log off.
   * @defaultValue 1000
   */
  slowMs?: number;
  /** Logger of slow requests when the caller gives none. @defaultValue a JSON line on stderr */
  logger?: SlowRequestLogger;
  /** How much recent history to keep for rates and windowed percentiles. @defaultValue 60000 */
  historyMs?: number;
  /** Resolution of the recent history. @defaultValue 1000 */
  slotMs?: number;
  /** `le` bounds of the latency histogram, in seconds. @defaultValue prom-client's defaults */
  buckets?: readonly number[];
  /** Clock in milliseconds, for rates. @defaultValue `performance` */
  clock?: Clock;
}

/** Requests, errors and latency over a recent window. */
export interface RecentRequests {
  /** Requests completed in the window. */
  requests: number;
  /** Of which errors (status 5xx, or aborted). */
  errors: number;
  /** Milliseconds the window really covers. */
  windowMs: number;
  /** Requests per second. */
  ratePerSecond: number;
  /** `errors / requests`, 0 when there were none. */
  errorRate: number;
  /** Latency in microseconds; reused by the next call. */
  latency: Histogram;
}

const STATUS_CLASSES = ['1xx', '1xx', '2xx', '3xx', '4xx', '5xx'] as const;

/** The series of one (route, method): by status class, created on first use. */
interface MethodSeries {
  requests: Array<CounterValue | undefined>;
  latency: Array<Histogram | undefined>;
  errors: CounterValue;
}

const defaultLogger: SlowRequestLogger = {
  warn(details, message) {
    process.stderr.write(
      `${JSON.stringify({ level: 'warn', time: Date.now(), msg: message, ...details })}\n`,
    );
  },
};

/**
 * Request counts, latency histograms, in-flight and error counts per route *template*, method
 * and status class, shared by the Fastify plugin and the `node:http` wrapper. Also keeps a
 * recent history (last minute by default, 1 s resolution) for rates, the dashboard and SLOs.
 *
 * Metric names with the default prefix: `http_requests_total`, `http_request_duration_seconds`
 * (labels `method`, `route`, `status_class`), `http_request_errors_total` (`method`, `route`),
 * `http_requests_in_flight`, `http_routes_folded_total`.
 */
export class RequestMetrics {
  /** The registry holding the metrics. */
  readonly registry: MetricsRegistry;
  /** Slow-request threshold in milliseconds. */
  readonly slowMs: number;
  /** Requests currently in flight. */
  inFlight = 0;
  /** Length of the recent history {@link RequestMetrics.recent} can cover, in milliseconds. */
  readonly historyMs: number;

  #maxRoutes: number;
  #logger: SlowRequestLogger;
  #requests: Counter;
  #latency: HistogramMetric;
  #errors: Counter;
  #folded: Counter;
  #routes = new Map<string, Map<string, MethodSeries>>();
  #window: WindowedHistogram;
  #errorSlots: Float64Array;
  #timer: NodeJS.Timeout;

  /** @throws {@link InvalidOptionError} `HP_ERR_INVALID_OPTION` on a bad option. */
  constructor(options: RequestMetricsOptions = {}) {
    this.registry = options.registry ?? new MetricsRegistry();
    const prefix = options.prefix ?? 'http_';
    this.#maxRoutes = checkNumber('maxRoutes', options.maxRoutes ?? 200, { min: 1, integer: true });
    const slowMs = options.slowMs ?? 1000;
    this.slowMs = slowMs === Infinity ? slowMs : checkNumber('slowMs', slowMs, { min: 0 });
    if (options.logger !== undefined && typeof options.logger?.warn !== 'function') {
      throw new InvalidOptionError('logger', 'expected an object with a warn() method');
    }
    this.#logger = options.logger ?? defaultLogger;
    const historyMs = checkNumber('historyMs', options.historyMs ?? 60_000, { min: 1 });
    const slotMs = checkNumber('slotMs', options.slotMs ?? 1000, { min: 1, max: historyMs });
    const labelNames = ['method', 'route', 'status_class'];
    const r = this.registry;
    this.#requests = r.counter({
      name: `${prefix}requests_total`,
      help: 'HTTP requests completed, by route template, method and status class.',
      labelNames,
      maxSeries: Infinity,
    });
    const histogramOptions = {
      name: `${prefix}request_duration_seconds`,
      help: 'HTTP request latency in seconds, by route template, method and status class.',
      labelNames,
      lowest: 1,
      highest: 600e6,
      scale: 1e-6,
      maxSeries: Infinity,
      ...(options.buckets === undefined ? {} : { buckets: options.buckets }),
    };
    this.#latency = r.histogram(histogramOptions);
    this.#errors = r.counter({
      name: `${prefix}request_errors_total`,
      help: 'HTTP requests answered with a 5xx status or aborted by the client.',
      labelNames: ['method', 'route'],
      maxSeries: Infinity,
    });
    const inFlight: Gauge = r.gauge({
      name: `${prefix}requests_in_flight`,
      help: 'HTTP requests being served.',
      collect: () => inFlight.set(this.inFlight),
    });
    this.#folded = r.counter({
      name: `${prefix}routes_folded_total`,
      help: `Requests recorded under route="${OTHER_LABEL}" because the route cap was reached.`,
    });
    const slots = Math.max(1, Math.round(historyMs / slotMs));
    this.historyMs = slots * slotMs;
    this.#window = new WindowedHistogram({
      windowMs: slots * slotMs,
      slots,
      autoRotate: false,
      lowest: 1,
      highest: 600e6,
      clock: options.clock ?? monotonicClock,
    });
    this.#errorSlots = new Float64Array(slots);
    this.#timer = setInterval(() => this.rotate(), slotMs);
    this.#timer.unref();
  }

  /**
   * Records one completed request. `route` must be a template (`/users/:id`), never a raw URL.
   * `log` overrides the logger for the slow-request line (the Fastify plugin passes
   * `request.log`).
   */
  observe(
    method: string,
    route: string,
    statusCode: number,
    durationMs: number,
    log?: SlowRequestLogger,
  ): void {
    let byMethod = this.#routes.get(route);
    if (byMethod === undefined) byMethod = this.#newRoute(route);
    let series = byMethod.get(method);
    if (series === undefined) series = this.#newMethod(byMethod, method, route);
    let cls = (statusCode / 100) | 0;
    if (cls < 1 || cls > 5) cls = 5;
    const micros = durationMs * 1000;
    (series.requests[cls] ?? this.#newClass(series, method, route, cls)).inc();
    series.latency[cls]!.record(micros);
    this.#window.record(micros);
    if (cls === 5 || statusCode === 499) {
      series.errors.inc();
      this.#errorSlots[this.#window.slotIndex]! += 1;
    }
    if (durationMs >= this.slowMs) {
      (log ?? this.#logger).warn({ method, route, statusCode, durationMs }, 'slow request');
    }
  }

  /** Requests, errors and latency over the last `windowMs` (up to `historyMs`). */
  recent(windowMs = 10_000): RecentRequests {
    const latency = this.#window.window(windowMs);
    const covered = this.#window.coveredMs(windowMs);
    const n = this.#errorSlots.length;
    const k = Math.min(n, Math.max(1, Math.ceil(windowMs / this.#window.slotMs - 1e-9)));
    let errors = 0;
    for (let j = 0; j < k; j++) errors += this.#errorSlots[(this.#window.slotIndex - j + n) % n]!;
    const requests = latency.count;
    return {
      requests,
      errors,
      windowMs: covered,
      ratePerSecond: covered > 0 ? (requests * 1000) / covered : 0,
      errorRate: requests > 0 ? errors / requests : 0,
      latency,
    };
  }

  /** Starts a new history slot; called by the internal timer every `slotMs`. */
  rotate(): void {
    this.#window.rotate();
    this.#errorSlots[this.#window.slotIndex] = 0;
  }

  /** Stops the history timer. */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.#window.close();
  }

  #newRoute(route: string): Map<string, MethodSeries> {
    if (this.#routes.size >= this.#maxRoutes && route !== OTHER_LABEL) {
      this.#folded.inc();
      const other = this.#routes.get(OTHER_LABEL);
      if (other !== undefined) return other;
      route = OTHER_LABEL;
    }
    const byMethod = new Map<string, MethodSeries>();
    this.#routes.set(route, byMethod);
    return byMethod;
  }

  #newMethod(byMethod: Map<string, MethodSeries>, method: string, route: string): MethodSeries {
    const series: MethodSeries = {
      requests: [],
      latency: [],
      errors: this.#errors.labels(method, this.#labelOf(byMethod, route)),
    };
    byMethod.set(method, series);
    return series;
  }

  #newClass(series: MethodSeries, method: string, route: string, cls: number): CounterValue {
    const byMethod = this.#routes.get(route) ?? this.#routes.get(OTHER_LABEL)!;
    const label = this.#labelOf(byMethod, route);
    const status = STATUS_CLASSES[cls]!;
    const counter = this.#requests.labels(method, label, status);
    series.requests[cls] = counter;
    series.latency[cls] = this.#latency.labels(method, label, status);
    return counter;
  }

  /** The route label: `other` when this route's series map is the folded one. */
  #labelOf(byMethod: Map<string, MethodSeries>, route: string): string {
    return this.#routes.get(route) === byMethod ? route : OTHER_LABEL;
  }
}
