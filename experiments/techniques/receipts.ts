import { samplePaymentIds, standard } from '../datasets.js';
import type { Experiment } from '../experiment.js';

/** Ed25519 receipt signing on the event loop against on a worker thread (hotpath/concurrency). */
export const receipts: Experiment = {
  name: 'receipts',
  technique: 'CPU-bound work offloaded to a worker pool (RECEIPTS=inline vs pool)',
  description:
    '10% signed receipts (about 3 ms of CPU each) among cheap cached reads: inline signing stalls the event loop for every request behind it.',
  dataset: standard,
  variants: [
    { name: 'inline', env: { RECEIPTS: 'inline' } },
    { name: 'pool', env: { RECEIPTS: 'pool' } },
  ],
  mix: async ({ query }) => {
    const ids = await samplePaymentIds(query, 200);
    return {
      requests: [
        { weight: 10, path: `/api/payments/{{pick ${ids.join(' ')}}}/receipt` },
        { weight: 90, path: `/api/payments/{{pick ${ids.join(' ')}}}` },
      ],
    };
  },
  rate: { share: 0.5 },
  fallbackRate: 100,
  primary: 'p99Ms',
  direction: 'lower',
  reports: 'p99 of the whole mix and the event-loop delay p99; CPU per request is alike.',
};
