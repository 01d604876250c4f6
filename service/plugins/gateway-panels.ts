/**
 * The gateway's health where operators look: a dashboard status line for its circuit
 * breaker, a chart of charges in flight and queued in the bulkhead, and the same as
 * Prometheus gauges, all read from the gateway client when sampled (nothing on the hot path).
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
  const circuit = registry.gauge({
    name: 'payments_gateway_circuit_state',
    help: 'Gateway circuit breaker: 0 closed, 1 half-open, 2 open',
  });
  const inFlight = registry.gauge({
    name: 'payments_gateway_charges_in_flight',
    help: 'Gateway charges running in the bulkhead',
  });
  const queued = registry.gauge({
    name: 'payments_gateway_charges_queued',
    help: 'Gateway charges waiting for a bulkhead slot',
  });
  app.addHook('onRequest', async (request) => {
    // Refreshed just before a scrape reads them.
    if (request.url !== '/metrics') return;
    const s = stats();
    circuit.set(CIRCUIT_STATES.indexOf(s.circuit));
    inFlight.set(s.running);
    queued.set(s.queued);
  });
}
