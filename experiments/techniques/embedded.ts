import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { RequestMix } from 'hotpath/load';
import { standard } from '../datasets.js';
import type { Experiment } from '../experiment.js';
import { FAST_GATEWAY } from '../gateways.js';

const mixFile = resolve(import.meta.dirname, '..', '..', 'examples', 'payments-mix.json');

/** The shipped mix on embedded PGlite (no Redis) against PostgreSQL and Redis servers. */
export const embedded: Experiment = {
  name: 'embedded',
  technique: 'embedded PGlite vs PostgreSQL + Redis servers (the shipped mix)',
  description:
    'examples/payments-mix.json against `npm start`’s embedded defaults (PGlite in a worker thread, in-process cache: embedded, not representative of a deployment) and against PostgreSQL and Redis servers, the gateway answering in a fixed 5 ms so the knees are the service’s own.',
  dataset: standard,
  env: FAST_GATEWAY,
  variants: [
    { name: 'PGlite (embedded)', env: {}, isEmbedded: true },
    { name: 'PostgreSQL + Redis', env: {} },
  ],
  mix: () => JSON.parse(readFileSync(mixFile, 'utf8')) as RequestMix,
  rate: { share: 0.5 },
  fallbackRate: 100,
  primary: 'p99Ms',
  direction: 'lower',
  reports:
    'Knee and p99. CPU per request is not comparable: PGlite’s work is in the service process, a server’s is not.',
};
