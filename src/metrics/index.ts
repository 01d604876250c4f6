/**
 * @module hotpath/metrics
 * Measure a Node.js service with little overhead: counters, gauges and a log-linear
 * (HDR-style) histogram with bounded relative error that merges exactly across threads and
 * processes; request instrumentation for Fastify and `node:http`; runtime metrics over a
 * recent window (event-loop delay and utilization, GC, memory); Prometheus text exposition
 * that never holds the event loop long and can include prom-client registries; a heap leak
 * detector; SLO rules with breach and recovery events, and the same SLOs as Prometheus burn-rate
 * alerting rules; and a live dashboard page.
 *
 * It does not push metrics anywhere, store them over time or send alerts: expose `/metrics` to
 * a Prometheus server for that.
 */
export { Histogram } from './histogram.js';
export type { HistogramOptions, HistogramSnapshot, HistogramBucket } from './histogram.js';
export { WindowedHistogram } from './windowed-histogram.js';
export type { WindowedHistogramOptions } from './windowed-histogram.js';
export { Metric, Counter, Gauge, CounterValue, GaugeValue, OTHER_LABEL } from './metric.js';
export type { MetricOptions, MetricType, Series } from './metric.js';
export { HistogramMetric, DEFAULT_BUCKETS } from './histogram-metric.js';
export type { HistogramMetricOptions } from './histogram-metric.js';
export { MetricsRegistry } from './registry.js';
export type { RegistrySnapshot, TextSource, MetricsRegistryOptions } from './registry.js';
export {
  writeExposition,
  expositionChunks,
  formatNumber,
  PROMETHEUS_CONTENT_TYPE,
} from './exposition.js';
export type { ExpositionOptions, Family } from './exposition.js';
export { RequestMetrics, UNMATCHED_ROUTE } from './request-metrics.js';
export type {
  RequestMetricsOptions,
  RecentRequests,
  SlowRequest,
  SlowRequestLogger,
} from './request-metrics.js';
export { fastifyMetrics } from './fastify-plugin.js';
export type { FastifyMetricsOptions } from './fastify-plugin.js';
export { instrumentHttp, routeTemplate } from './http-instrument.js';
export type { InstrumentHttpOptions } from './http-instrument.js';
export { RuntimeMetrics } from './runtime-metrics.js';
export type { RuntimeMetricsOptions, RuntimeSnapshot, GcKind } from './runtime-metrics.js';
export { SloMonitor, parseSloRule } from './slo.js';
export type { SloRule, SloSubject, SloStatus, SloEvent, SloMonitorOptions } from './slo.js';
export { sloPrometheusRules, formatRuleFile, BURN_RATE_WINDOWS } from './slo-rules.js';
export type { SloPrometheusRulesOptions, PrometheusRule, PrometheusRuleFile } from './slo-rules.js';
export { LeakDetector } from './leak-detector.js';
export type { LeakDetectorOptions, LeakEvidence, LeakStatus, HeapSample } from './leak-detector.js';
export { Dashboard, requestPanels, runtimePanels, sloPanel } from './dashboard.js';
export type {
  DashboardOptions,
  DashboardFrame,
  DashboardEvent,
  Panel,
  ChartPanel,
  StatusPanel,
  LinksPanel,
  PanelLink,
  StatusItem,
  PanelSeries,
  PanelDefinition,
} from './dashboard.js';
export { fastifyDashboard } from './dashboard-plugin.js';
export type { FastifyDashboardOptions } from './dashboard-plugin.js';
export { shareWithParent, collectFromWorker, METRICS_MESSAGE } from './share.js';
export type { ShareOptions, MetricsMessage, MessageSource } from './share.js';
export { ClusterMetrics } from './cluster-metrics.js';
export type { ClusterMetricsOptions, ClusterSource } from './cluster-metrics.js';
export {
  HistogramMismatchError,
  DuplicateMetricError,
  MetricLabelsError,
  SloParseError,
} from './errors.js';
