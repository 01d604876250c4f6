/**
 * GET /api/payments/:id on the reference payments service, CACHE=on vs CACHE=off, in one
 * process: both apps share one embedded PGlite database holding 500 payments, listen on
 * 127.0.0.1:0 and are driven in turn (interleaved rounds) by hotpath/load's closed model,
 * 32 keep-alive connections reading random ids among the 500. CACHE=on here is L1 only
 * (no REDIS_URL), as `npm start` runs by default.
 *
 *   npm run bench -- cache --filter payments-read
 */
import type { AddressInfo } from 'node:net';
import { migrate, startEmbedded } from 'hotpath/db';
import { buildTestApp, buildTestService } from '../../test/helpers/app.js';
import { migrations } from '../../service/migrations/index.js';
import { writeResult } from '../lib/report.js';
import { driveRounds, summarizeRounds } from '../lib/service-rounds.js';

const PAYMENTS = 500;
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const ROUND_MS = Number(process.env.ROUND_MS ?? 3000);
const CONNECTIONS = Number(process.env.CONNECTIONS ?? 32);

const db = await startEmbedded({ dataDir: 'memory://' });
await migrate(db, migrations);
const gateway = {
  charge: () => Promise.resolve({ status: 'authorized' as const, reference: 'ch_bench' }),
};
const cached = await buildTestService({ cache: 'on' }, { db, gateway });
const apps = {
  'CACHE=on': cached.app,
  'CACHE=off': await buildTestApp({ cache: 'off' }, { db, gateway }),
};

const ids: string[] = [];
for (let i = 0; i < PAYMENTS; i++) {
  const res = await apps['CACHE=on'].inject({
    method: 'POST',
    url: '/api/payments',
    headers: { 'content-type': 'application/json' },
    payload: JSON.stringify({ user_id: 1 + (i % 50), amount: 100 + i, currency: 'EUR' }),
  });
  ids.push((res.json() as { id: string }).id);
}
const urls: Record<string, string> = {};
for (const [name, app] of Object.entries(apps)) {
  await app.listen({ host: '127.0.0.1', port: 0 });
  urls[name] = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
}

const mix = { requests: [{ path: `/api/payments/{{pick ${ids.join(' ')}}}` }] };
const samples = await driveRounds({
  urls,
  mix,
  connections: CONNECTIONS,
  rounds: ROUNDS,
  roundMs: ROUND_MS,
});
const summary = summarizeRounds(
  `GET /api/payments/:id, ${CONNECTIONS} connections, ${ROUNDS} rounds of ${ROUND_MS} ms`,
  samples,
);
const on = summary['CACHE=on']!;
const off = summary['CACHE=off']!;
console.log(
  `  CACHE=on = ${(on.rps / off.rps).toFixed(2)}x the throughput, p99 ${(off.p99Ms / on.p99Ms).toFixed(2)}x lower`,
);
const stats = cached.cache?.stats();
console.log(
  `  cache: L1 hits ${stats?.l1.hits}, misses ${stats?.l1.misses}, factory calls ${stats?.factory.calls}`,
);
writeResult('cache-payments-read', { connections: CONNECTIONS, summary, stats });

for (const app of Object.values(apps)) await app.close();
await db.close();
