import { standard } from '../datasets.js';
import type { Experiment } from '../experiment.js';

/** The gateway answers every charge after 1 s, past the client's 300 ms timeout. */
const BROWNOUT = { lateAnswerMs: 1000 };
const GATEWAY = { GATEWAY_LATENCY: 'fixed:5', GATEWAY_TIMEOUT_MS: '300', GATEWAY_RETRIES: '1' };

/** A circuit breaker on gateway charges against none, while the gateway browns out. */
export const breaker: Experiment = {
  name: 'breaker',
  technique: 'circuit breaker under a gateway brownout (GATEWAY_BREAKER=off vs on)',
  description:
    'The gateway simulator answers every charge after 1 s (POST /_faults {"lateAnswerMs":1000}) while the client gives each attempt 300 ms and one retry. Without a breaker each payment waits out its attempts and ends pending (202); with it, once half of the recent charges failed, payments fail at once without being sent (201 failed) and a trial goes through every 5 s.',
  dataset: standard,
  variants: [
    { name: 'no breaker', env: { ...GATEWAY, GATEWAY_BREAKER: 'off' } },
    { name: 'breaker', env: { ...GATEWAY, GATEWAY_BREAKER: 'on' } },
  ],
  gatewayFaults: BROWNOUT,
  mix: ({ dataset }) => ({
    requests: [
      { weight: 90, path: `/api/users/{{int 1 ${dataset.users}}}/summary` },
      {
        weight: 10,
        method: 'POST',
        path: '/api/payments',
        headers: { 'Idempotency-Key': '{{uuid}}' },
        body: {
          user_id: `{{int 1 ${dataset.users}}}`,
          amount: '{{int 100 50000}}',
          currency: 'EUR',
        },
      },
    ],
  }),
  kneeStartRate: 20,
  rate: { share: 0.5 },
  fallbackRate: 100,
  primary: 'p99Ms',
  direction: 'lower',
  reports:
    'p99 of the mix (10% payments): without the breaker every payment holds its request for the attempts’ timeouts; the breaker turns them into fast failures. The knee of the variant without a breaker is none: its payments alone break p99 < 100 ms at any rate.',
};
