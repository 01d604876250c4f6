/**
 * The reconciler where operators look: pending payments and the oldest one's age on the
 * dashboard and as Prometheus gauges, payments settled per sweep as a counter. All read from
 * the reconciler's stats, refreshed by each sweep (nothing on the request path).
 */
import type { ReconcilerStats } from '../payments/reconciler.js';
import type { Observability } from './observability.js';

const ageSeconds = (stats: ReconcilerStats, now: number): number =>
  stats.pending.oldestCreatedAt === null
    ? 0
    : Math.max(0, (now - stats.pending.oldestCreatedAt.getTime()) / 1000);

export function reconcilerPanels(
  { dashboard, registry }: Pick<Observability, 'dashboard' | 'registry'>,
  stats: () => ReconcilerStats,
): void {
  dashboard.addPanel({
    id: 'payments-pending',
    title: 'Pending payments (outcome not known yet)',
    unit: 'payments',
    series: [{ label: 'pending' }, { label: 'settled by last sweep' }],
    sample: () => {
      const s = stats();
      return [s.pending.count, s.lastSweep?.settled ?? 0];
    },
  });
  const pending = registry.gauge({
    name: 'payments_pending',
    help: 'Payments pending after the last reconciler sweep',
    collect: () => pending.set(stats().pending.count),
  });
  const oldest = registry.gauge({
    name: 'payments_pending_oldest_age_seconds',
    help: 'Age of the oldest pending payment at the last reconciler sweep',
    collect: () => oldest.set(ageSeconds(stats(), Date.now())),
  });
  const lastSettled = registry.gauge({
    name: 'payments_reconciler_last_sweep_settled',
    help: 'Payments the last reconciler sweep settled',
    collect: () => lastSettled.set(stats().lastSweep?.settled ?? 0),
  });
  const settled = registry.gauge({
    name: 'payments_reconciler_settled_total',
    help: 'Payments settled by reconciler sweeps since start',
    collect: () => settled.set(stats().settled),
  });
}
