import { samplePaymentIds, standard } from '../datasets.js';
import type { Experiment } from '../experiment.js';

const HOT_USERS = 100;

/** Cache-aside reads (hotpath/cache, L1 in process + L2 Redis) against every read hitting PostgreSQL. */
export const cache: Experiment = {
  name: 'cache',
  technique: 'cache-aside reads (CACHE=off vs on)',
  description:
    'User summaries (an aggregate over 100 payments) of 100 hot users and reads of 200 payments, served from PostgreSQL on every request or through the two-tier cache (L1 in process, L2 Redis; summaries live 10 s, payments 60 s).',
  dataset: standard,
  variants: [
    { name: 'cache off', env: { CACHE: 'off' } },
    { name: 'cache on', env: { CACHE: 'on' } },
  ],
  mix: async ({ query }) => {
    const ids = await samplePaymentIds(query, 200);
    return {
      requests: [
        // Hot keys, as real traffic has them: at the common rate each summary is read about
        // every 2 s, within its 10 s TTL. Over all 1,000 users most reads would miss.
        { weight: 60, path: `/api/users/{{int 1 ${HOT_USERS}}}/summary` },
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
