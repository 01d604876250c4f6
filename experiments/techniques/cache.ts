import { samplePaymentIds, standard } from '../datasets.js';
import type { Experiment } from '../experiment.js';

/** Cache-aside reads (hotpath/cache, L1 in process + L2 Redis) against every read hitting PostgreSQL. */
export const cache: Experiment = {
  name: 'cache',
  technique: 'cache-aside reads (CACHE=off vs on)',
  description:
    'User summaries (an aggregate over the user’s payments) and payment reads, served from PostgreSQL on every request or through the two-tier cache.',
  dataset: standard,
  variants: [
    { name: 'cache off', env: { CACHE: 'off' } },
    { name: 'cache on', env: { CACHE: 'on' } },
  ],
  mix: async ({ query }) => {
    const ids = await samplePaymentIds(query, 200);
    return {
      requests: [
        { weight: 60, path: `/api/users/{{int 1 ${standard.users}}}/summary` },
        { weight: 40, path: `/api/payments/{{pick ${ids.join(' ')}}}` },
      ],
    };
  },
  rate: { share: 0.5 },
  fallbackRate: 200,
  primary: 'cpuPerRequestMs',
  direction: 'lower',
  reports: 'Knee, CPU and queries per request: a hit costs no query and no row decoding.',
};
