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
import { load, type LoadResult } from 'hotpath/load';
import { buildApp } from '../../service/app.js';
import { migrations } from '../../service/migrations/index.js';
import { environment, median, writeResult } from '../lib/report.js';

const PAYMENTS = 500;
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const ROUND_MS = Number(process.env.ROUND_MS ?? 3000);
const CONNECTIONS = Number(process.env.CONNECTIONS ?? 32);

const db = await startEmbedded({ dataDir: 'memory://' });
await migrate(db, migrations);
const gateway = {
  charge: () => Promise.resolve({ status: 'authorized' as const, reference: 'ch_bench' }),
};
const apps = {
  'CACHE=on': await buildApp(
    { bodyLimitBytes: 16_384, logLevel: 'silent', cache: 'on' },
    { db, gateway },
  ),
  'CACHE=off': await buildApp(
    { bodyLimitBytes: 16_384, logLevel: 'silent', cache: 'off' },
    { db, gateway },
  ),
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
const samples: Record<string, LoadResult[]> = { 'CACHE=on': [], 'CACHE=off': [] };
for (let round = 0; round < ROUNDS; round++) {
  for (const name of Object.keys(apps)) {
    const result = await load({
      url: urls[name]!,
      mix,
      connections: CONNECTIONS,
      durationMs: ROUND_MS,
      warmupMs: 500,
      seed: round,
    });
    const bad = Object.entries(result.statuses).filter(([code]) => code !== '200');
    if (bad.length > 0)
      throw new Error(`${name}: unexpected statuses ${JSON.stringify(result.statuses)}`);
    samples[name]!.push(result);
  }
}

const env = environment();
console.log(
  `GET /api/payments/:id, ${CONNECTIONS} connections, ${ROUNDS} rounds of ${ROUND_MS} ms, median  (node ${env.node}, ${env.cpu}, ${env.cores} cores)`,
);
const summary: Record<string, { rps: number; p50Ms: number; p99Ms: number }> = {};
for (const [name, results] of Object.entries(samples)) {
  summary[name] = {
    rps: median(results.map((r) => r.requestsPerSecond)),
    p50Ms: median(results.map((r) => r.latency.percentiles['50']! / 1000)),
    p99Ms: median(results.map((r) => r.latency.percentiles['99']! / 1000)),
  };
  const s = summary[name]!;
  console.log(
    `  ${name.padEnd(9)}  ${s.rps.toFixed(0).padStart(7)} req/s   p50 ${s.p50Ms.toFixed(2)} ms   p99 ${s.p99Ms.toFixed(2)} ms`,
  );
}
const on = summary['CACHE=on']!;
const off = summary['CACHE=off']!;
console.log(
  `  CACHE=on = ${(on.rps / off.rps).toFixed(2)}x the throughput, p99 ${(off.p99Ms / on.p99Ms).toFixed(2)}x lower`,
);
const stats = apps['CACHE=on'].cache?.stats();
console.log(
  `  cache: L1 hits ${stats?.l1.hits}, misses ${stats?.l1.misses}, factory calls ${stats?.factory.calls}`,
);
writeResult('cache-payments-read', { connections: CONNECTIONS, summary, stats });

for (const app of Object.values(apps)) await app.close();
await db.close();
