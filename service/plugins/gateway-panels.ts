/**
 * The gateway's health where operators look: a dashboard status line for its circuit
 * breaker, a chart of charges in flight and queued against the adaptive concurrency limit,
 * and Prometheus gauges of these and of retries, all read from the gateway client when
 * sampled or scraped (nothing on the request path).
 */
import type { GatewayStats } from '../gateway/client.js';
import type { Observability } from './observability.js';

const CIRCUIT_STATES = ['closed', 'half-open', 'open'] as const;

export function gatewayPanels(
  { dashboard, registry }: Pick<Observability, 'dashboard' | 'registry'>,
  stats: () => GatewayStats,
): void {
  dashboard.addPanel({
    id: 'gateway-circuit',
    title: 'Gateway circuit breaker',
    kind: 'status',
    sample: () => {
      const s = stats();
      return [
        {
          label: `circuit ${s.circuit}`,
          ok: s.circuit === 'closed',
          detail: `${(s.failureRate * 100).toFixed(0)}% of recent attempts failed`,
        },
      ];
    },
  });
  dashboard.addPanel({
    id: 'gateway-load',
    title: 'Gateway charges in flight and the adaptive limit',
    unit: 'charges',
    series: [{ label: 'running' }, { label: 'queued' }, { label: 'limit' }],
    sample: () => {
      const s = stats();
      return [s.running, s.queued, s.limit];
    },
  });
  // Read when a scrape collects them: no per-request hook (each Fastify hook costs microseconds
  // on every request; docs/metrics.md).
  const circuit = registry.gauge({
    name: 'payments_gateway_circuit_state',
    help: 'Gateway circuit breaker: 0 closed, 1 half-open, 2 open',
    collect: () => circuit.set(CIRCUIT_STATES.indexOf(stats().circuit)),
  });
  const inFlight = registry.gauge({
    name: 'payments_gateway_charges_in_flight',
    help: 'Gateway charges running in the bulkhead',
    collect: () => inFlight.set(stats().running),
  });
  const limit = registry.gauge({
    name: 'payments_gateway_concurrency_limit',
    help: 'Gateway charges allowed in flight now (adaptive: follows the latency)',
    collect: () => limit.set(stats().limit),
  });
  const refused = registry.gauge({
    name: 'payments_gateway_charges_refused',
    help: 'Gateway charges refused a slot (never sent) since start',
    collect: () => refused.set(stats().rejected),
  });
  const retries = registry.gauge({
    name: 'payments_gateway_retries',
    help: 'Gateway charge retries since start',
    collect: () => retries.set(stats().retries),
  });
  const retriesRefused = registry.gauge({
    name: 'payments_gateway_retries_refused',
    help: 'Gateway charge retries the retry budget refused since start',
    collect: () => retriesRefused.set(stats().retriesRefused),
  });
  const queued = registry.gauge({
    name: 'payments_gateway_charges_queued',
    help: 'Gateway charges waiting for a bulkhead slot',
    collect: () => queued.set(stats().queued),
  });
}
