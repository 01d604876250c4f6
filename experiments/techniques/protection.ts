import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { RequestMix } from 'hotpath/load';
import { standard } from '../datasets.js';
import type { Experiment } from '../experiment.js';

const mixFile = resolve(import.meta.dirname, '..', '..', 'examples', 'payments-mix.json');

/** Rate limit and load shedding against neither, at twice the unprotected knee. */
export const protection: Experiment = {
  name: 'protection',
  technique: 'rate limit + load shedding under 2x overload (RATE_LIMIT_PER_SECOND, SHEDDING)',
  description:
    'examples/payments-mix.json at twice the knee of the unprotected service: without protection every request queues; with it, payment creations (10% of the mix, one client) above 20/s get 429 and reads are shed (503) while the event loop is overloaded.',
  dataset: standard,
  variants: [
    { name: 'unprotected', env: { SHEDDING: 'off', RATE_LIMIT_PER_SECOND: '0' } },
    {
      name: 'protected',
      env: { SHEDDING: 'on', RATE_LIMIT_PER_SECOND: '20', RATE_LIMIT_BURST: '40' },
    },
  ],
  mix: () => JSON.parse(readFileSync(mixFile, 'utf8')) as RequestMix,
  kneeStartRate: 20,
  rate: { overload: 2 },
  fallbackRate: 300,
  primary: 'goodput',
  direction: 'higher',
  refusals: [429, 503],
  reports:
    'Goodput (2xx per second) and p99 of all answers, refusals included (the load generator keeps no latency per status).',
};
