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

/** What every {@link RouteRecorder} of one {@link RequestMetrics} shares. */
interface Shared {
  requests: Counter;
  latency: HistogramMetric;
  window: WindowedHistogram;
  errorSlots: Float64Array;
  slowMs: number;
  logger: SlowRequestLogger;
}

/**
 * The series of one (method, route template), resolved once: the Fastify plugin makes one per
 * route when the route is declared, so recording a request does no label lookup at all.
 */
export class RouteRecorder {
  /** HTTP method. */
  readonly method: string;
  /** Route template, or `other` once the route cap was reached. */
  readonly route: string;
  readonly #shared: Shared;
  readonly #errors: CounterValue;
  // Indexed by status class 1..5, filled on first use.
  readonly #counts: Array<CounterValue | undefined> = [
    undefined,
    undefined,
    undefined,
    undefined,
    undefined,
    undefined,
  ];
  readonly #latency: Array<Histogram | undefined> = [
    undefined,
    undefined,
    undefined,
    undefined,
    undefined,
    undefined,
  ];

  /** @internal Made by {@link RequestMetrics.route}. */
  constructor(shared: Shared, method: string, route: string, errors: CounterValue) {
    this.#shared = shared;
    this.method = method;
    this.route = route;
    this.#errors = errors;
  }

  /**
   * Records one completed request of this route. `log` overrides the logger of the
   * slow-request line (the Fastify plugin passes `request.log`).
   */
  observe(statusCode: number, durationMs: number, log?: SlowRequestLogger): void {
    let cls = (statusCode / 100) | 0;
    if (cls < 1 || cls > 5) cls = 5;
    const micros = durationMs * 1000;
    const count = this.#counts[cls];
    if (count === undefined) this.#addClass(cls).value++;
    else count.value++;
    this.#latency[cls]!.record(micros);
    const shared = this.#shared;
    shared.window.record(micros);
    if (cls === 5 || statusCode === 499) {
      this.#errors.value++;
      shared.errorSlots[shared.window.slotIndex]! += 1;
    }
    if (durationMs >= shared.slowMs) {
      (log ?? shared.logger).warn(
        { method: this.method, route: this.route, statusCode, durationMs },
        'slow request',
      );
    }
  }

  #addClass(cls: number): CounterValue {
    const status = STATUS_CLASSES[cls]!;
    const counter = this.#shared.requests.labels(this.method, this.route, status);
    this.#counts[cls] = counter;
    this.#latency[cls] = this.#shared.latency.labels(this.method, this.route, status);
    return counter;
  }
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
  #errors: Counter;
  #folded: Counter;
  #routes = new Map<string, Map<string, RouteRecorder>>();
  #window: WindowedHistogram;
  #errorSlots: Float64Array;
  #shared: Shared;
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
    const historyMs = checkNumber('historyMs', options.historyMs ?? 60_000, { min: 1 });
    const slotMs = checkNumber('slotMs', options.slotMs ?? 1000, { min: 1, max: historyMs });
    const labelNames = ['method', 'route', 'status_class'];
    const r = this.registry;
    const requests = r.counter({
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
    const latency = r.histogram(histogramOptions);
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
    this.#shared = {
      requests,
      latency,
      window: this.#window,
      errorSlots: this.#errorSlots,
      slowMs: this.slowMs,
      logger: options.logger ?? defaultLogger,
    };
    this.#timer = setInterval(() => this.rotate(), slotMs);
    this.#timer.unref();
  }

  /**
   * Records one completed request. `route` must be a template (`/users/:id`), never a raw URL.
   * `log` overrides the logger for the slow-request line. When the route is known in advance,
   * keep its {@link RouteRecorder} from {@link RequestMetrics.route} instead: it skips the
   * two map lookups this does.
   */
  observe(
    method: string,
    route: string,
    statusCode: number,
    durationMs: number,
    log?: SlowRequestLogger,
  ): void {
    const recorder = this.#routes.get(route)?.get(method) ?? this.route(method, route);
    recorder.observe(statusCode, durationMs, log);
  }

  /**
   * The recorder of one (method, route template), created on first use. Past `maxRoutes`
   * distinct templates a new one is recorded as `other` (and counted in
   * `<prefix>routes_folded_total` each time it is asked for).
   */
  route(method: string, route: string): RouteRecorder {
    let byMethod = this.#routes.get(route);
    if (byMethod === undefined) {
      if (this.#routes.size >= this.#maxRoutes && route !== OTHER_LABEL) {
        this.#folded.inc();
        return this.route(method, OTHER_LABEL);
      }
      byMethod = new Map();
      this.#routes.set(route, byMethod);
    }
    let recorder = byMethod.get(method);
    if (recorder === undefined) {
      recorder = new RouteRecorder(this.#shared, method, route, this.#errors.labels(method, route));
      byMethod.set(method, recorder);
    }
    return recorder;
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
}
