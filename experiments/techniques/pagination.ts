import { deep } from '../datasets.js';
import type { Experiment } from '../experiment.js';
import { encodeCursor, encodeOffsetCursor } from '../../service/payments/cursor.js';

/** How deep in each user's history the measured pages are. */
export const PAGE_DEPTH = 8000;

/** A page 8,000 payments deep: OFFSET reads and drops 8,000 rows, keyset seeks the index. */
export const pagination: Experiment = {
  name: 'pagination',
  technique: 'OFFSET vs keyset pagination (PAGINATION=offset vs keyset)',
  description: `Pages of 20 payments ${PAGE_DEPTH.toLocaleString('en')} rows deep into a user’s history (${(deep.payments / deep.users).toLocaleString('en')} payments per user).`,
  dataset: deep,
  variants: [
    { name: 'offset', env: { PAGINATION: 'offset', CACHE: 'off' } },
    { name: 'keyset', env: { PAGINATION: 'keyset', CACHE: 'off' } },
  ],
  mix: async ({ query, dataset, variant }) => {
    const depth = Math.min(PAGE_DEPTH, Math.floor(dataset.payments / dataset.users / 2));
    const requests = [];
    for (let user = 1; user <= dataset.users; user++) {
      // The id the previous page ended on: the keyset cursor of the page at `depth`.
      const rows = await query<{ id: string }>(
        'SELECT id FROM payments WHERE user_id = $1 ORDER BY id DESC OFFSET $2 LIMIT 1',
        [user, depth - 1],
      );
      if (rows[0] === undefined) continue;
      const cursor =
        variant.env.PAGINATION === 'offset' ? encodeOffsetCursor(depth) : encodeCursor(rows[0].id);
      requests.push({ path: `/api/users/${user}/payments?limit=20&cursor=${cursor}` });
    }
    return { requests };
  },
  kneeStartRate: 20,
  rate: { share: 0.5 },
  fallbackRate: 50,
  primary: 'p50Ms',
  direction: 'lower',
  reports:
    'The cost is in PostgreSQL, not in the service: latency at the common rate and the knee show it; the service’s CPU per request barely moves.',
};
