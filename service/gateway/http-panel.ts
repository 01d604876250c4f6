/**
 * The gateway client's HTTP metrics on the dashboard: per sample, the mean time to first byte
 * (the gateway and the network) and the mean queue wait (this process: too few connections,
 * or connects) of the requests that ended since the previous sample, read from the
 * `hotpath_http_client_*` histograms in the registry (nothing on the request path).
 */
import type { Dashboard, Histogram, HistogramMetric, MetricsRegistry } from 'hotpath/metrics';

/** Sum and count of every origin's series of a histogram family, or zeros before its first request. */
function totals(metric: HistogramMetric | undefined): { sum: number; count: number } {
  let sum = 0;
  let count = 0;
  for (const { value } of metric?.series() ?? []) {
    const histogram = value as Histogram;
    sum += histogram.sum;
    count += histogram.count;
  }
  return { sum, count };
}

/** A chart of the means since the last sample; µs recorded, ms shown. */
export function gatewayHttpPanel({
  dashboard,
  registry,
}: {
  dashboard: Dashboard;
  registry: MetricsRegistry;
}): void {
  const names = [
    'hotpath_http_client_first_byte_seconds',
    'hotpath_http_client_queue_wait_seconds',
  ];
  const last = names.map(() => ({ sum: 0, count: 0 }));
  dashboard.addPanel({
    id: 'gateway-http',
    title: 'Gateway HTTP: time to first byte and queue wait (mean per sample)',
    unit: 'ms',
    series: [{ label: 'first byte' }, { label: 'queue wait' }],
    sample: () =>
      names.map((name, i) => {
        const now = totals(registry.get(name) as HistogramMetric | undefined);
        const before = last[i]!;
        const n = now.count - before.count;
        const mean = n > 0 ? (now.sum - before.sum) / n / 1000 : 0;
        last[i] = now;
        return mean;
      }),
  });
}
