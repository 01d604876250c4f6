/**
 * The dependencies' state where operators look: a dashboard status line per dependency and
 * the gauge `payments_dependency_up{dependency}` (1 up, 0 down or degraded), both read from
 * readiness's last round when sampled or scraped (nothing on the request path).
 */
import type { Readiness } from '../readiness.js';
import type { Observability } from './observability.js';

export function dependencyPanels(
  { dashboard, registry }: Pick<Observability, 'dashboard' | 'registry'>,
  readiness: Readiness,
): void {
  dashboard.addPanel({
    id: 'dependencies',
    title: 'Dependencies',
    kind: 'status',
    sample: () =>
      (readiness.last?.dependencies ?? []).map((d) => ({
        label: `${d.name}${d.critical ? '' : ' (optional)'}`,
        ok: d.ok,
        detail: d.state,
      })),
  });
  const up = registry.gauge({
    name: 'payments_dependency_up',
    help: 'Whether a dependency answered its last readiness check: 1 up, 0 down or degraded',
    labelNames: ['dependency'],
    collect: () => {
      for (const d of readiness.last?.dependencies ?? []) up.labels(d.name).set(d.ok ? 1 : 0);
    },
  });
}
