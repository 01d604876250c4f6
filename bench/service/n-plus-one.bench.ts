/**
 * GET /api/users/latest-payments?ids=<50 users> on the reference payments service,
 * N_PLUS_ONE=batched (one LATERAL query) vs N_PLUS_ONE=naive (one query per user), in one
 * process: both apps share one database (the PostgreSQL server of scripts/services.sh, or
 * embedded PGlite with --embedded), listen on 127.0.0.1:0 and are driven in turn, interleaved
 * rounds, by hotpath/load's closed model.
 *
 *   npm run bench -- service                 (PostgreSQL server: bash scripts/services.sh start)
 *   EMBEDDED=1 npm run bench -- service      (embedded PGlite, not representative)
 */
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { connectPostgres, migrate, startEmbedded, type Database } from 'hotpath/db';
import { load, type LoadResult } from 'hotpath/load';
import pg from 'pg';
import { buildApp } from '../../service/app.js';
import { migrations } from '../../service/migrations/index.js';
import { environment, median, writeResult } from '../lib/report.js';

const USERS = 2000;
const PAYMENTS_PER_USER = 20;
const IDS_PER_REQUEST = 50;
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const ROUND_MS = Number(process.env.ROUND_MS ?? 3000);
const CONNECTIONS = Number(process.env.CONNECTIONS ?? 16);
const embedded = process.env.EMBEDDED === '1';
const adminUrl =
  process.env.TEST_DATABASE_URL ??
  `postgres://postgres@127.0.0.1:${process.env.HOTPATH_PG_PORT ?? 54329}/postgres`;

let db: Database;
let drop = async () => {};
if (embedded) {
  db = await startEmbedded({ dataDir: 'memory://' });
} else {
  const name = `hp_bench_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  try {
    await admin.connect();
  } catch (error) {
    console.error(
      `bench: no PostgreSQL at ${adminUrl} (${(error as Error).message}); run bash scripts/services.sh start, or EMBEDDED=1`,
    );
    process.exit(1);
  }
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  db = await connectPostgres(url.toString(), { max: 16 });
  drop = async () => {
    const c = new pg.Client({ connectionString: adminUrl });
    await c.connect();
    await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await c.end();
  };
}
await migrate(db, migrations);
await db.query(
  `INSERT INTO payments (id, user_id, amount, currency, status, created_at)
   SELECT gen_random_uuid(), 1 + (g % $1), 100 + g % 9000, 'EUR', 'authorized', now() - (g || ' seconds')::interval
   FROM generate_series(1, $2::int) AS g`,
  [USERS, USERS * PAYMENTS_PER_USER],
);
await db.query('ANALYZE payments');

const gateway = {
  charge: () => Promise.resolve({ status: 'authorized' as const, reference: 'ch_bench' }),
};
const config = { bodyLimitBytes: 16_384, logLevel: 'silent' as const, cache: 'off' as const };
const apps = {
  batched: await buildApp({ ...config, nPlusOne: 'batched' }, { db, gateway }),
  naive: await buildApp({ ...config, nPlusOne: 'naive' }, { db, gateway }),
};
const urls: Record<string, string> = {};
for (const [name, app] of Object.entries(apps)) {
  await app.listen({ host: '127.0.0.1', port: 0 });
  urls[name] = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
}

// Eight fixed lists of 50 users; each request picks one.
const lists = Array.from({ length: 8 }, (_, l) =>
  Array.from({ length: IDS_PER_REQUEST }, (_, i) => 1 + ((l * 997 + i * 37) % USERS)).join(','),
);
const mix = { requests: [{ path: `/api/users/latest-payments?ids={{pick ${lists.join(' ')}}}` }] };

const samples: Record<string, LoadResult[]> = { batched: [], naive: [] };
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
const where = embedded ? 'embedded PGlite (not representative)' : 'PostgreSQL server';
console.log(
  `GET /api/users/latest-payments (${IDS_PER_REQUEST} users), ${where}, ${CONNECTIONS} connections, ${ROUNDS} rounds of ${ROUND_MS} ms, median  (node ${env.node}, ${env.cpu}, ${env.cores} cores)`,
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
    `  ${name.padEnd(8)} ${s.rps.toFixed(0).padStart(7)} req/s   p50 ${s.p50Ms.toFixed(2)} ms   p99 ${s.p99Ms.toFixed(2)} ms`,
  );
}
const b = summary.batched!;
const n = summary.naive!;
console.log(
  `  batched = ${(b.rps / n.rps).toFixed(2)}x the throughput of naive, p99 ${(n.p99Ms / b.p99Ms).toFixed(2)}x lower`,
);
writeResult(`service-n-plus-one${embedded ? '-embedded' : ''}`, {
  where,
  connections: CONNECTIONS,
  summary,
});

for (const app of Object.values(apps)) await app.close();
await db.close();
await drop();
