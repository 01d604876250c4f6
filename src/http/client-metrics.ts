import type { Dispatcher } from 'undici';
import type { CounterValue, GaugeValue, Histogram, MetricsRegistry } from '../metrics/index.js';
import type { Clock } from '../internal/clock.js';

// Recorded in microseconds, exposed in seconds; 1 µs to 60 s at the histogram's precision.
const LATENCY = { lowest: 1, highest: 60e6, scale: 1e-6 } as const;
const MS_TO_US = 1000;

/** The series of one origin, looked up once and kept (a label lookup per request would cost). */
export interface OriginSeries {
  readonly connect: Histogram;
  readonly connections: CounterValue;
  readonly queueWait: Histogram;
  readonly firstByte: Histogram;
  readonly inFlight: GaugeValue;
  readonly errors: CounterValue;
  status(code: number): CounterValue;
}

/**
 * The client's metric families in a registry, labelled by origin:
 *
 * | metric | type | what |
 * |---|---|---|
 * | `hotpath_http_client_connect_seconds` | histogram | TCP (+TLS) connect time of a new connection |
 * | `hotpath_http_client_connections_total` | counter | connections opened |
 * | `hotpath_http_client_queue_wait_seconds` | histogram | dispatch to the request's first byte written (waiting for a free connection, connecting included) |
 * | `hotpath_http_client_first_byte_seconds` | histogram | request written to response headers received |
 * | `hotpath_http_client_responses_total` | counter | responses by `status` |
 * | `hotpath_http_client_errors_total` | counter | requests that ended in an error (no response, or the body failed) |
 * | `hotpath_http_client_in_flight` | gauge | requests dispatched and not yet ended |
 */
export class ClientMetrics {
  readonly #registry: MetricsRegistry;
  readonly #byOrigin = new Map<string, OriginSeries>();
  readonly #clock: Clock;

  constructor(registry: MetricsRegistry, clock: Clock) {
    this.#registry = registry;
    this.#clock = clock;
  }

  /** The series of `origin` (`http://host:port`), created on first use. */
  origin(origin: string): OriginSeries {
    let series = this.#byOrigin.get(origin);
    if (series === undefined) {
      series = this.#create(origin);
      this.#byOrigin.set(origin, series);
    }
    return series;
  }

  /**
   * Wraps a dispatch handler so that it records the request's queue wait, first byte, status
   * and in flight. A handler of undici's classic shape (the one `request()` makes) gets a
   * wrapper of the same shape: an interceptor through `compose()` converts it to the new shape
   * and back, headers included, which cost 40% of the requests per CPU-second
   * (bench/http/client.bench.ts).
   */
  wrap(origin: string, handler: Dispatcher.DispatchHandler): Dispatcher.DispatchHandler {
    const series = this.origin(origin);
    return typeof handler.onRequestStart === 'function'
      ? new MeasuredHandler(handler, series, this.#clock)
      : new ClassicMeasuredHandler(handler, series, this.#clock);
  }

  #create(origin: string): OriginSeries {
    const r = this.#registry;
    const labelNames = ['origin'];
    const histogram = (name: string, help: string) =>
      r.histogram({ name, help, labelNames, ...LATENCY }).labels(origin);
    const statusCounter = r.counter({
      name: 'hotpath_http_client_responses_total',
      help: 'HTTP client responses by origin and status code.',
      labelNames: ['origin', 'status'],
    });
    const byStatus = new Map<number, CounterValue>();
    return {
      connect: histogram(
        'hotpath_http_client_connect_seconds',
        'HTTP client connect time of a new connection, by origin.',
      ),
      connections: r
        .counter({
          name: 'hotpath_http_client_connections_total',
          help: 'HTTP client connections opened, by origin.',
          labelNames,
        })
        .labels(origin),
      queueWait: histogram(
        'hotpath_http_client_queue_wait_seconds',
        'HTTP client time from dispatch to the request being written (waiting for a connection), by origin.',
      ),
      firstByte: histogram(
        'hotpath_http_client_first_byte_seconds',
        'HTTP client time from the request written to the response headers, by origin.',
      ),
      inFlight: r
        .gauge({
          name: 'hotpath_http_client_in_flight',
          help: 'HTTP client requests in flight, by origin.',
          labelNames,
        })
        .labels(origin),
      errors: r
        .counter({
          name: 'hotpath_http_client_errors_total',
          help: 'HTTP client requests that ended in an error (no response, or the body failed), by origin.',
          labelNames,
        })
        .labels(origin),
      status(code) {
        let counter = byStatus.get(code);
        if (counter === undefined) {
          counter = statusCounter.labels(origin, String(code));
          byStatus.set(code, counter);
        }
        return counter;
      },
    };
  }
}

/** Forwards every callback to the caller's handler, timing the request's phases on the way. */
class MeasuredHandler implements Dispatcher.DispatchHandler {
  readonly #handler: Dispatcher.DispatchHandler;
  readonly #series: OriginSeries;
  readonly #clock: Clock;
  #mark: number;
  #ended = false;

  constructor(handler: Dispatcher.DispatchHandler, series: OriginSeries, clock: Clock) {
    this.#handler = handler;
    this.#series = series;
    this.#clock = clock;
    this.#mark = clock.now();
    series.inFlight.inc();
  }

  onRequestStart(controller: Dispatcher.DispatchController, context: unknown): void {
    const now = this.#clock.now();
    this.#series.queueWait.record((now - this.#mark) * MS_TO_US);
    this.#mark = now;
    this.#handler.onRequestStart?.(controller, context);
  }

  onRequestUpgrade(
    controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: Parameters<NonNullable<Dispatcher.DispatchHandler['onRequestUpgrade']>>[2],
    socket: Parameters<NonNullable<Dispatcher.DispatchHandler['onRequestUpgrade']>>[3],
  ): void {
    this.#end();
    this.#handler.onRequestUpgrade?.(controller, statusCode, headers, socket);
  }

  onResponseStart(
    controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: Parameters<NonNullable<Dispatcher.DispatchHandler['onResponseStart']>>[2],
    statusMessage?: string,
  ): void {
    this.#series.firstByte.record((this.#clock.now() - this.#mark) * MS_TO_US);
    this.#series.status(statusCode).inc();
    this.#handler.onResponseStart?.(controller, statusCode, headers, statusMessage);
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.#handler.onResponseData?.(controller, chunk);
  }

  onResponseEnd(
    controller: Dispatcher.DispatchController,
    trailers: Parameters<NonNullable<Dispatcher.DispatchHandler['onResponseEnd']>>[1],
  ): void {
    this.#end();
    this.#handler.onResponseEnd?.(controller, trailers);
  }

  onResponseError(controller: Dispatcher.DispatchController, error: Error): void {
    if (!this.#ended) this.#series.errors.inc();
    this.#end();
    this.#handler.onResponseError?.(controller, error);
  }

  #end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#series.inFlight.dec();
  }
}

type Classic = Required<
  Pick<
    Dispatcher.DispatchHandler,
    'onConnect' | 'onHeaders' | 'onData' | 'onComplete' | 'onError' | 'onUpgrade'
  >
>;

/** {@link MeasuredHandler} for a handler of undici's classic shape (onConnect, onHeaders...). */
class ClassicMeasuredHandler implements Dispatcher.DispatchHandler {
  readonly #handler: Dispatcher.DispatchHandler;
  readonly #series: OriginSeries;
  readonly #clock: Clock;
  #mark: number;
  #ended = false;

  constructor(handler: Dispatcher.DispatchHandler, series: OriginSeries, clock: Clock) {
    this.#handler = handler;
    this.#series = series;
    this.#clock = clock;
    this.#mark = clock.now();
    series.inFlight.inc();
  }

  onConnect(...args: Parameters<Classic['onConnect']>): void {
    const now = this.#clock.now();
    this.#series.queueWait.record((now - this.#mark) * MS_TO_US);
    this.#mark = now;
    (this.#handler.onConnect as (...a: unknown[]) => void)(...args);
  }

  onResponseStarted(): void {
    this.#handler.onResponseStarted?.();
  }

  onBodySent(chunkSize: number, totalBytesSent: number): void {
    this.#handler.onBodySent?.(chunkSize, totalBytesSent);
  }

  onHeaders(...args: Parameters<Classic['onHeaders']>): boolean {
    this.#series.firstByte.record((this.#clock.now() - this.#mark) * MS_TO_US);
    this.#series.status(args[0]).inc();
    return this.#handler.onHeaders!(...args);
  }

  onData(chunk: Buffer): boolean {
    return this.#handler.onData!(chunk);
  }

  onComplete(trailers: string[] | null): void {
    this.#end();
    this.#handler.onComplete!(trailers);
  }

  onUpgrade(...args: Parameters<Classic['onUpgrade']>): void {
    this.#end();
    this.#handler.onUpgrade!(...args);
  }

  onError(error: Error): void {
    if (!this.#ended) this.#series.errors.inc();
    this.#end();
    this.#handler.onError!(error);
  }

  #end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#series.inFlight.dec();
  }
}
