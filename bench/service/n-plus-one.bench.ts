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
import pg from 'pg';
import { buildTestApp } from '../../test/helpers/app.js';
import { migrations } from '../../service/migrations/index.js';
import { writeResult } from '../lib/report.js';
import { driveRounds, summarizeRounds } from '../lib/service-rounds.js';

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
const apps = {
  batched: await buildTestApp({ cache: 'off', nPlusOne: 'batched' }, { db, gateway }),
  naive: await buildTestApp({ cache: 'off', nPlusOne: 'naive' }, { db, gateway }),
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

const samples = await driveRounds({
  urls,
  mix,
  connections: CONNECTIONS,
  rounds: ROUNDS,
  roundMs: ROUND_MS,
});
const where = embedded ? 'embedded PGlite (not representative)' : 'PostgreSQL server';
const summary = summarizeRounds(
  `GET /api/users/latest-payments (${IDS_PER_REQUEST} users), ${where}, ${CONNECTIONS} connections, ${ROUNDS} rounds of ${ROUND_MS} ms`,
  samples,
);
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
