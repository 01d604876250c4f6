import { HotpathError } from '../errors/index.js';

/** Two histograms with different layouts were merged, or a snapshot is malformed. */
export class HistogramMismatchError extends HotpathError<'HP_ERR_METRICS_HISTOGRAM_MISMATCH'> {
  constructor(message: string, options?: ErrorOptions) {
    super('HP_ERR_METRICS_HISTOGRAM_MISMATCH', message, options);
  }
}

/** A metric name was registered twice with a different type, help or label names. */
export class DuplicateMetricError extends HotpathError<'HP_ERR_METRICS_DUPLICATE'> {
  /** The metric name. */
  readonly metric: string;
  constructor(metric: string, message: string, options?: ErrorOptions) {
    super('HP_ERR_METRICS_DUPLICATE', message, options);
    this.metric = metric;
  }
}

/** A metric was used with label names other than the ones it declared. */
export class MetricLabelsError extends HotpathError<'HP_ERR_METRICS_LABELS'> {
  /** The metric name. */
  readonly metric: string;
  constructor(metric: string, message: string, options?: ErrorOptions) {
    super('HP_ERR_METRICS_LABELS', message, options);
    this.metric = metric;
  }
}

/** An SLO rule expression could not be parsed. */
export class SloParseError extends HotpathError<'HP_ERR_METRICS_SLO_PARSE'> {
  /** The expression as given. */
  readonly expression: string;
  constructor(expression: string, message: string, options?: ErrorOptions) {
    super('HP_ERR_METRICS_SLO_PARSE', `cannot parse SLO rule "${expression}": ${message}`, options);
    this.expression = expression;
  }
}
