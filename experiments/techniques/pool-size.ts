import { standard } from '../datasets.js';
import type { Experiment } from '../experiment.js';

/** Database pool of 1, 10 and 50 connections with up to 100 requests in flight. */
export const poolSize: Experiment = {
  name: 'pool-size',
  technique: 'database pool size 1 / 10 / 50 at a concurrency of 100 (DB_POOL_MAX)',
  description:
    'Uncached reads (summaries and pages of payments) with up to 100 requests in flight, so requests queue for a pool connection.',
  dataset: standard,
  variants: [
    { name: 'pool 1', env: { DB_POOL_MAX: '1', CACHE: 'off' } },
    { name: 'pool 10', env: { DB_POOL_MAX: '10', CACHE: 'off' } },
    { name: 'pool 50', env: { DB_POOL_MAX: '50', CACHE: 'off' } },
  ],
  gated: ['pool 10'],
  connections: 100,
  mix: ({ dataset }) => ({
    requests: [
      { weight: 50, path: `/api/users/{{int 1 ${dataset.users}}}/summary` },
      { weight: 50, path: `/api/users/{{int 1 ${dataset.users}}}/payments?limit=20` },
    ],
  }),
  kneeStartRate: 20,
  rate: { share: 0.7 },
  fallbackRate: 100,
  primary: 'p99Ms',
  direction: 'lower',
  reports:
    'Knee and p99: one connection serializes every query; past the number of cores of the database, more connections add contention, not throughput.',
};
