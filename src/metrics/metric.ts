import { InvalidOptionError } from '../errors/index.js';
import { checkNumber, checkString } from '../internal/validate-options.js';
import { MetricLabelsError } from './errors.js';

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** The label value a series gets once its metric has reached `maxSeries`. */
export const OTHER_LABEL = 'other';

/** Options shared by every metric. */
export interface MetricOptions {
  /** Prometheus metric name (`[a-zA-Z_:][a-zA-Z0-9_:]*`). */
  name: string;
  /** One line of help text. */
  help: string;
  /**
   * Label names, in the order label values are passed to `labels()`.
   * @defaultValue `[]`
   */
  labelNames?: readonly string[];
  /**
   * Cardinality cap: past this many label sets, new ones fold into one series whose labels
   * are all `other`, and {@link Metric.folded} counts them. `Infinity` turns the cap off.
   * @defaultValue 1000
   */
  maxSeries?: number;
  /** Called before every collection, to set values read from elsewhere (heap size, GC counts). */
  collect?: () => void;
  /**
   * How series of the same labels from other threads or processes combine with this one
   * (see `MetricsRegistry.setRemote`): `sum` (heap bytes, requests) or `max` (the worst
   * thread's event-loop delay). Histograms always merge.
   * @defaultValue `'sum'`
   */
  aggregate?: 'sum' | 'max';
}

/** One series of a metric: its label values and its value holder. */
export interface Series<T> {
  readonly labelValues: readonly string[];
  readonly value: T;
}

/** The kind of a metric, as Prometheus' `# TYPE` names it. */
export type MetricType = 'counter' | 'gauge' | 'histogram';

/**
 * Base of every metric: a name, help, label names and a map of label sets to series.
 * Look a series up once with `labels(...)` and keep it: updating a kept series is a field
 * update, without the string building a lookup needs.
 */
export abstract class Metric<T> {
  /** Metric name. */
  readonly name: string;
  /** Help text. */
  readonly help: string;
  /** Label names. */
  readonly labelNames: readonly string[];
  /** Cardinality cap. */
  readonly maxSeries: number;
  /** How remote series combine with this one. */
  readonly aggregate: 'sum' | 'max';
  /** Prometheus type. */
  abstract readonly type: MetricType;
  #series = new Map<string, Series<T>>();
  #folded = 0;
  #default: T | undefined;
  readonly #collect: (() => void) | undefined;

  /** @throws {@link InvalidOptionError} `HP_ERR_INVALID_OPTION` on a bad name or label. */
  constructor(options: MetricOptions) {
    const name = checkString('name', options.name);
    if (!NAME.test(name)) throw new InvalidOptionError('name', `"${name}" is not a metric name`);
    this.name = name;
    this.help = typeof options.help === 'string' ? options.help : '';
    const labelNames = options.labelNames ?? [];
    if (!Array.isArray(labelNames)) throw new InvalidOptionError('labelNames', 'expected an array');
    for (const label of labelNames) {
      if (typeof label !== 'string' || !LABEL.test(label) || label.startsWith('__')) {
        throw new InvalidOptionError('labelNames', `"${String(label)}" is not a label name`);
      }
      if (label === 'le') throw new InvalidOptionError('labelNames', '"le" is reserved');
    }
    this.labelNames = Object.freeze([...labelNames]);
    const maxSeries = options.maxSeries ?? 1000;
    // Infinity: the caller caps cardinality itself (as RequestMetrics does per route).
    this.maxSeries =
      maxSeries === Infinity
        ? maxSeries
        : checkNumber('maxSeries', maxSeries, { min: 1, integer: true });
    if (options.collect !== undefined && typeof options.collect !== 'function') {
      throw new InvalidOptionError('collect', 'expected a function');
    }
    this.#collect = options.collect;
    const aggregate = options.aggregate ?? 'sum';
    if (aggregate !== 'sum' && aggregate !== 'max') {
      throw new InvalidOptionError(
        'aggregate',
        `expected "sum" or "max", got ${String(aggregate)}`,
      );
    }
    this.aggregate = aggregate;
  }

  /** Runs the `collect` callback, if any. Registries call it before every exposition. */
  collect(): void {
    this.#collect?.();
  }

  /** Creates the value holder of a new series. */
  protected abstract create(): T;

  /** How many label sets were folded into the `other` series by the cardinality cap. */
  get folded(): number {
    return this.#folded;
  }

  /** Number of series. */
  get size(): number {
    return this.#series.size;
  }

  /**
   * The series for these label values (in `labelNames` order), created on first use.
   * @throws {@link MetricLabelsError} `HP_ERR_METRICS_LABELS` on a wrong number of values.
   */
  labels(...values: string[]): T {
    if (values.length !== this.labelNames.length) {
      throw new MetricLabelsError(
        this.name,
        `${this.name} takes ${this.labelNames.length} label values (${this.labelNames.join(', ')}), got ${values.length}`,
      );
    }
    const key = values.length === 1 ? values[0]! : values.join('\u0000');
    const found = this.#series.get(key);
    if (found !== undefined) return found.value;
    if (this.#series.size >= this.maxSeries) {
      this.#folded++;
      return this.#other();
    }
    const series: Series<T> = {
      labelValues: Object.freeze(values.map(String)),
      value: this.create(),
    };
    this.#series.set(key, series);
    return series.value;
  }

  /** The series of a metric without labels. */
  protected get unlabelled(): T {
    if (this.#default !== undefined) return this.#default;
    if (this.labelNames.length > 0) {
      throw new MetricLabelsError(this.name, `${this.name} has labels: use labels(...) first`);
    }
    this.#default = this.labels();
    return this.#default;
  }

  /** Every series, in creation order. */
  series(): IterableIterator<Series<T>> {
    return this.#series.values();
  }

  /** Drops every series. */
  clear(): void {
    this.#series.clear();
    this.#default = undefined;
    this.#folded = 0;
  }

  #other(): T {
    const key = '\u0001other';
    let other = this.#series.get(key);
    if (other === undefined) {
      other = {
        labelValues: Object.freeze(this.labelNames.map(() => OTHER_LABEL)),
        value: this.create(),
      };
      this.#series.set(key, other);
    }
    return other.value;
  }
}

/** The value holder of one counter series. */
export class CounterValue {
  /** Current total. */
  value = 0;
  /** Adds `n` (default 1); negative amounts are ignored, as counters only go up. */
  inc(n = 1): void {
    if (n > 0) this.value += n;
  }
}

/** The value holder of one gauge series. */
export class GaugeValue {
  /** Current value. */
  value = 0;
  /** Sets the value. */
  set(v: number): void {
    this.value = v;
  }
  /** Adds `n` (default 1). */
  inc(n = 1): void {
    this.value += n;
  }
  /** Subtracts `n` (default 1). */
  dec(n = 1): void {
    this.value -= n;
  }
}

/**
 * A monotonically increasing count.
 * @example
 * ```ts
 * const requests = new Counter({ name: 'app_requests_total', help: 'Requests', labelNames: ['route'] });
 * const home = requests.labels('/'); // keep it
 * home.inc();
 * ```
 */
export class Counter extends Metric<CounterValue> {
  readonly type = 'counter' as const;
  protected create(): CounterValue {
    return new CounterValue();
  }
  /** Adds `n` to the counter without labels. */
  inc(n = 1): void {
    this.unlabelled.inc(n);
  }
  /** The value of the counter without labels. */
  get value(): number {
    return this.unlabelled.value;
  }
}

/** A value that goes up and down. */
export class Gauge extends Metric<GaugeValue> {
  readonly type = 'gauge' as const;
  protected create(): GaugeValue {
    return new GaugeValue();
  }
  /** Sets the gauge without labels. */
  set(v: number): void {
    this.unlabelled.set(v);
  }
  /** Adds to the gauge without labels. */
  inc(n = 1): void {
    this.unlabelled.inc(n);
  }
  /** Subtracts from the gauge without labels. */
  dec(n = 1): void {
    this.unlabelled.dec(n);
  }
  /** The value of the gauge without labels. */
  get value(): number {
    return this.unlabelled.value;
  }
}
