import { standard } from '../datasets.js';
import type { Experiment } from '../experiment.js';

const IDS_PER_REQUEST = 50;

/** One LATERAL query for 50 users against one query per user. */
export const nPlusOne: Experiment = {
  name: 'n-plus-one',
  technique: 'N+1 queries vs one batched query (N_PLUS_ONE=naive vs batched)',
  description: `GET /api/users/latest-payments with ${IDS_PER_REQUEST} user ids: one query per user, or one CROSS JOIN LATERAL query for all.`,
  dataset: standard,
  variants: [
    { name: 'naive (N+1)', env: { N_PLUS_ONE: 'naive', CACHE: 'off' } },
    { name: 'batched', env: { N_PLUS_ONE: 'batched', CACHE: 'off' } },
  ],
  mix: ({ dataset }) => {
    // Eight fixed lists of 50 users; each request picks one.
    const lists = Array.from({ length: 8 }, (_, l) =>
      Array.from(
        { length: IDS_PER_REQUEST },
        (_, i) => 1 + ((l * 997 + i * 37) % dataset.users),
      ).join(','),
    );
    return { requests: [{ path: `/api/users/latest-payments?ids={{pick ${lists.join(' ')}}}` }] };
  },
  kneeStartRate: 20,
  rate: { share: 0.5 },
  fallbackRate: 50,
  primary: 'cpuPerRequestMs',
  direction: 'lower',
  reports: 'Queries per request (50 against 1), CPU per request and the knee.',
};
