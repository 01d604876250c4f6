import { standard } from '../datasets.js';
import type { Experiment } from '../experiment.js';

/** gzip/br of large JSON responses (hotpath/http) against identity encoding. */
export const compression: Experiment = {
  name: 'compression',
  technique: 'response compression (COMPRESSION=off vs on)',
  description: 'Pages of 100 payments (about 30 KB of JSON) to a client that accepts gzip and br.',
  dataset: standard,
  variants: [
    { name: 'identity', env: { COMPRESSION: 'off', CACHE: 'off' } },
    { name: 'compressed', env: { COMPRESSION: 'on', CACHE: 'off' } },
  ],
  mix: ({ dataset }) => ({
    headers: { 'accept-encoding': 'gzip, br' },
    requests: [{ path: `/api/users/{{int 1 ${dataset.users}}}/payments?limit=100` }],
  }),
  rate: { share: 0.5 },
  fallbackRate: 50,
  primary: 'bytesPerResponse',
  direction: 'lower',
  reports:
    'Bytes per response fall; CPU per request rises (compression is paid in the service’s CPU): on loopback the knee shows the cost, on a slow network the bytes pay.',
};
