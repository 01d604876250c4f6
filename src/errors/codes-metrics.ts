/** Codes thrown by hotpath/metrics. */
export const metricsCodes = {
  HP_ERR_METRICS_HISTOGRAM_MISMATCH:
    'Two histograms (or a snapshot) with different layouts were merged, or a snapshot is malformed.',
  HP_ERR_METRICS_DUPLICATE: 'A metric name was registered twice with a different type or labels.',
  HP_ERR_METRICS_LABELS: 'A metric was used with label names other than the ones it declared.',
  HP_ERR_METRICS_SLO_PARSE: 'An SLO rule expression could not be parsed.',
} as const satisfies Record<`HP_ERR_${string}`, string>;
