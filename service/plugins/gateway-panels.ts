/**
 * The gateway's health where operators look: a dashboard status line for its circuit
 * breaker, a chart of charges in flight and queued in the bulkhead, and the same as
 * Prometheus gauges, all read from the gateway client when sampled or scraped (nothing on
 * the request path).
 */
import type { FastifyInstance } from 'fastify';
import type { GatewayStats } from '../gateway/client.js';

const CIRCUIT_STATES = ['closed', 'half-open', 'open'] as const;

export function gatewayPanels(app: FastifyInstance, stats: () => GatewayStats): void {
  const { dashboard, registry } = app.observability;
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
    title: 'Gateway charges in flight',
    unit: 'charges',
    series: [{ label: 'running' }, { label: 'queued' }],
    sample: () => {
      const s = stats();
      return [s.running, s.queued];
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
  const queued = registry.gauge({
    name: 'payments_gateway_charges_queued',
    help: 'Gateway charges waiting for a bulkhead slot',
    collect: () => queued.set(stats().queued),
  });
}
