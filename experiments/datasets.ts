/** The data sets the experiments seed (service/seed.ts: payments over the last 30 days). */
import type { Dataset } from './experiment.js';

/** 100 payments per user: the shape of examples/payments-mix.json's users 1..1000. */
export const standard: Dataset = { name: 'standard', users: 1000, payments: 100_000 };

/** 10,000 payments per user: a history deep enough for OFFSET to hurt. */
export const deep: Dataset = { name: 'deep', users: 20, payments: 200_000 };

/** What --smoke seeds instead of any experiment's data set: seconds, not minutes. */
export const smoke: Dataset = { name: 'smoke', users: 100, payments: 5000 };

/** Payment ids of the data set, a fixed sample (same ids for every variant). */
export async function samplePaymentIds(
  query: <Row>(sql: string, params?: unknown[]) => Promise<Row[]>,
  count: number,
): Promise<string[]> {
  const rows = await query<{ id: string }>(
    'SELECT id FROM payments ORDER BY md5(id::text) LIMIT $1',
    [count],
  );
  return rows.map((r) => r.id);
}
