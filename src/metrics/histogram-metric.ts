import { InvalidOptionError } from '../errors/index.js';
import { checkNumber } from '../internal/validate-options.js';
import { Histogram, type HistogramOptions } from './histogram.js';
import { Metric, type MetricOptions } from './metric.js';

/** prom-client's default buckets, in seconds: the usual latency `le` set. */
export const DEFAULT_BUCKETS: readonly number[] = Object.freeze([
  0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
]);

/** Options of {@link HistogramMetric}. */
export interface HistogramMetricOptions extends MetricOptions, HistogramOptions {
  /**
   * Factor from recorded units to exposed units: record microseconds and expose seconds with
   * `1e-6`.
   * @defaultValue 1
   */
  scale?: number;
  /**
   * Upper bounds of the exposed `le` buckets, ascending, in exposed units. The histogram keeps
   * full resolution; these only shape the exposition.
   * @defaultValue {@link DEFAULT_BUCKETS}
   */
  buckets?: readonly number[];
}

/**
 * A labelled family of {@link Histogram}s, exposed as a Prometheus histogram.
 * @example
 * ```ts
 * const latency = new HistogramMetric({
 *   name: 'app_latency_seconds', help: 'Latency', labelNames: ['route'],
 *   lowest: 1, highest: 60e6, scale: 1e-6, // record microseconds
 * });
 * const home = latency.labels('/');
 * home.record(1250);
 * ```
 */
export class HistogramMetric extends Metric<Histogram> {
  readonly type = 'histogram' as const;
  /** Recorded-to-exposed factor. */
  readonly scale: number;
  /** Exposed `le` bounds. */
  readonly buckets: readonly number[];
  readonly #layout: HistogramOptions;

  /** @throws {@link InvalidOptionError} `HP_ERR_INVALID_OPTION` on a bad option. */
  constructor(options: HistogramMetricOptions) {
    super(options);
    this.scale = checkNumber('scale', options.scale ?? 1, { min: Number.MIN_VALUE });
    const buckets = options.buckets ?? DEFAULT_BUCKETS;
    if (!Array.isArray(buckets) || buckets.length === 0) {
      throw new InvalidOptionError('buckets', 'expected a non-empty array of numbers');
    }
    for (let i = 0; i < buckets.length; i++) {
      checkNumber(`buckets[${i}]`, buckets[i]);
      if (i > 0 && buckets[i]! <= buckets[i - 1]!) {
        throw new InvalidOptionError('buckets', 'bounds must be strictly ascending');
      }
    }
    this.buckets = Object.freeze([...buckets]);
    const layout: HistogramOptions = {};
    if (options.lowest !== undefined) layout.lowest = options.lowest;
    if (options.highest !== undefined) layout.highest = options.highest;
    if (options.precision !== undefined) layout.precision = options.precision;
    // Fail now, not on the first labels() call.
    new Histogram(layout);
    this.#layout = layout;
  }

  protected create(): Histogram {
    return new Histogram(this.#layout);
  }

  /** Records into the histogram without labels. */
  record(value: number): void {
    this.unlabelled.record(value);
  }

  /** The histogram without labels. */
  get histogram(): Histogram {
    return this.unlabelled;
  }
}
