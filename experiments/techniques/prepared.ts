import { samplePaymentIds, standard } from '../datasets.js';
import type { Experiment } from '../experiment.js';

/** Named (prepared) statements, parsed and planned once per connection, against unnamed ones. */
export const prepared: Experiment = {
  name: 'prepared',
  technique: 'prepared statements (PREPARED=off vs on)',
  description:
    'Uncached reads (payment by id, a page of 20 payments, a user summary) with every parameterized query sent unnamed (parsed and planned each time) or as a named statement (hotpath/db instrumentPool, parsed once per connection).',
  dataset: standard,
  variants: [
    { name: 'unnamed', env: { PREPARED: 'off', CACHE: 'off' } },
    { name: 'prepared', env: { PREPARED: 'on', CACHE: 'off' } },
  ],
  mix: async ({ query, dataset }) => {
    const ids = await samplePaymentIds(query, 200);
    return {
      requests: [
        { weight: 40, path: `/api/payments/{{pick ${ids.join(' ')}}}` },
        { weight: 40, path: `/api/users/{{int 1 ${dataset.users}}}/payments?limit=20` },
        { weight: 20, path: `/api/users/{{int 1 ${dataset.users}}}/summary` },
      ],
    };
  },
  rate: { share: 0.5 },
  fallbackRate: 100,
  primary: 'p50Ms',
  direction: 'lower',
  reports:
    'What a statement saves is parse and plan time in PostgreSQL: it shows in latency and the knee, not in the service’s CPU (which the pool instrumentation of the prepared variant adds to a little).',
};
