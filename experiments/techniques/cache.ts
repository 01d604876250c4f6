import { samplePaymentIds, standard } from '../datasets.js';
import type { Experiment } from '../experiment.js';

const HOT_USERS = 20;

/** Cache-aside reads (hotpath/cache, L1 in process + L2 Redis) against every read hitting PostgreSQL. */
export const cache: Experiment = {
  name: 'cache',
  technique: 'cache-aside reads (CACHE=off vs on)',
  description:
    'User summaries (an aggregate over 100 payments) of 20 hot users and reads of 100 payments, served from PostgreSQL on every request or through the two-tier cache (L1 in process, L2 Redis; summaries live 10 s, payments 60 s).',
  dataset: standard,
  variants: [
    { name: 'cache off', env: { CACHE: 'off' } },
    { name: 'cache on', env: { CACHE: 'on' } },
  ],
  mix: async ({ query }) => {
    const ids = await samplePaymentIds(query, 100);
    return {
      requests: [
        // Hot keys, as real traffic has them: even at 30 req/s each summary is read about
        // every second, well within its 10 s TTL. With 100 hot users at 32 req/s a summary was
        // read every 5 s, refreshed ahead after 7 s, and the cache cost more CPU than it saved.
        { weight: 60, path: `/api/users/{{int 1 ${HOT_USERS}}}/summary` },
        { weight: 40, path: `/api/payments/{{pick ${ids.join(' ')}}}` },
      ],
    };
  },
  rate: { share: 0.5 },
  fallbackRate: 200,
  primary: 'cpuPerRequestMs',
  direction: 'lower',
  reports:
    'Knee, CPU and queries per request: a hit costs no query and no row decoding. A cache pays only when a key is read more often than its TTL expires: a miss costs a Redis round trip on top of the query.',
};
