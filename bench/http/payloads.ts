/**
 * The reference service's real response shapes, made deterministically: one payment (~300 B)
 * and pages of its list endpoint (`GET /api/users/:id/payments`, up to 100 items, ~30 KB).
 */
const STATUSES = ['authorized', 'authorized', 'authorized', 'declined', 'failed'] as const;

function hex(n: number, width: number): string {
  return n.toString(16).padStart(width, '0').slice(-width);
}

/** The i-th payment of user 42, as the API shows it. */
export function payment(i: number): Record<string, unknown> {
  const t = Date.UTC(2026, 0, 1) + i * 61_337;
  const status = STATUSES[(i * 7) % STATUSES.length]!;
  const id = `0193${hex(t, 8)}-${hex(i * 2654435761, 4)}-7${hex(i * 40503, 3)}-8${hex(i * 9973, 3)}-${hex(i * 2246822519, 12)}`;
  return {
    id,
    user_id: 42,
    amount: 100 + ((i * 7919) % 99_900),
    currency: ['EUR', 'USD', 'GBP'][i % 3],
    status,
    gateway_ref:
      status === 'authorized' ? `gw_${hex(i * 1103515245, 8)}${hex(i * 12345, 8)}` : null,
    failure_reason: status === 'failed' ? 'gateway_unavailable' : null,
    created_at: new Date(t).toISOString(),
    updated_at: new Date(t + 180).toISOString(),
  };
}

/** A list page of `n` payments with a next cursor, as JSON text. */
export function page(n: number): string {
  const items = Array.from({ length: n }, (_, i) => payment(i + 1));
  return JSON.stringify({ items, next_cursor: n === 100 ? 'MDE5M2FiY2RlZg' : null });
}

/** The payloads the compression bench runs, smallest first. */
export const payloads: readonly { name: string; body: string }[] = [
  { name: 'payment', body: JSON.stringify(payment(1)) },
  { name: 'page of 10', body: page(10) },
  { name: 'page of 100', body: page(100) },
];
