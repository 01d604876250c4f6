import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { RequestMix } from 'hotpath/load';
import { standard } from '../datasets.js';
import { FAST_GATEWAY } from '../gateways.js';
import type { Experiment } from '../experiment.js';

const mixFile = resolve(import.meta.dirname, '..', '..', 'examples', 'payments-mix.json');

/** Rate limit and load shedding against neither, at twice the unprotected knee. */
export const protection: Experiment = {
  name: 'protection',
  technique: 'rate limit + load shedding under 2x overload (RATE_LIMIT_PER_SECOND, SHEDDING)',
  description:
    'examples/payments-mix.json at twice the knee of the unprotected service, its gateway answering in a fixed 5 ms so the knee is the service’s own capacity: without protection requests queue and every answer comes late; with it, payment creations (10% of the mix, one client) above 2/s get 429 and requests are shed (503, lowest priority first) once they have waited 20 ms for the event loop, or while it stalls 50 ms or its own CPU time keeps it 85% busy.',
  dataset: standard,
  env: FAST_GATEWAY,
  variants: [
    { name: 'unprotected', env: { SHEDDING: 'off', RATE_LIMIT_PER_SECOND: '0' } },
    {
      name: 'protected',
      // A limit the mix's one client exceeds at twice any knee above 10 req/s (payments are
      // 10% of it; the bucket refills while the other variant runs, so a limit near the
      // offered payment rate would not bite), and shedding with the shedder's defaults (a
      // request that waited 20 ms for the loop, 85% own utilization) plus a 50 ms stall.
      env: {
        SHEDDING: 'on',
        SHED_DELAY_MS: '50',
        RATE_LIMIT_PER_SECOND: '2',
        RATE_LIMIT_BURST: '4',
      },
    },
  ],
  mix: () => JSON.parse(readFileSync(mixFile, 'utf8')) as RequestMix,
  // The service's capacity, so that twice it overloads the service whatever the machine's
  // stalls do to a latency threshold.
  kneeTarget: 'capacity',
  kneeStartRate: 20,
  rate: { overload: 2 },
  overload: { unloadedShare: 0.25, goodputOfKnee: 0.9, p99OfUnloaded: 2 },
  fallbackRate: 300,
  primary: 'admittedP99Ms',
  direction: 'lower',
  refusals: [429, 503],
  reports:
    'p99 is of all answers, fast refusals included; p99 admitted is of the 2xx answers alone (the gate’s figure). Goodput is 2xx per second, against the goodput of the unprotected knee step; p50 rise is the p50 of a round’s last second less its first’s: a queue that grows shows there.',
};
