/**
 * Throughput and p99 of the payments service's mix (examples/payments-mix.json: 90% reads,
 * 10% payment creations), its pg pool straight to PostgreSQL vs through PgBouncer 1.18 in
 * transaction mode (deploy/pgbouncer/pgbouncer.ini, unnamed statements: PREPARED=off), same
 * run, interleaved rounds, closed model. Both apps run in this process on one seeded database
 * of the server of scripts/services.sh; the gateway answers at once.
 *
 *   bash scripts/services.sh start && npm run bench -- scale --filter pgbouncer
 *   ROUNDS=3 ROUND_MS=4000 CONNECTIONS=32 POOL=16 npm run bench -- scale --filter pgbouncer
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { connectPostgres, migrate } from 'hotpath/db';
import { load, type LoadResult, type RequestMix } from 'hotpath/load';
import { buildTestApp } from '../../test/helpers/app.js';
import { migrations } from '../../service/migrations/index.js';
import { writeResult } from '../lib/report.js';
import { summarizeRounds } from '../lib/service-rounds.js';
import { createDatabase } from './cluster.js';

const ROUNDS = Number(process.env.ROUNDS ?? 3);
const ROUND_MS = Number(process.env.ROUND_MS ?? 4000);
const CONNECTIONS = Number(process.env.CONNECTIONS ?? 32);
const POOL = Number(process.env.POOL ?? 16);
const root = resolve(import.meta.dirname, '..', '..');

const database = await createDatabase();
const dir = mkdtempSync(join(tmpdir(), 'hotpath-pgbouncer-bench-'));
const script = (command: string) =>
  execFileSync('bash', [join(root, 'scripts/scale.sh'), 'pgbouncer', command], {
    env: {
      ...process.env,
      HOTPATH_SCALE_DIR: dir,
      DATABASE_URL: database.url,
      PGBOUNCER_POOL_SIZE: String(POOL),
    },
    cwd: root,
    encoding: 'utf8',
  });
const bouncerUrl = /PGBOUNCER_URL=(\S+)/.exec(script('start'))![1]!;

const direct = await connectPostgres(database.url, { max: POOL });
await migrate(direct, migrations);
await direct.query(
  `INSERT INTO payments (id, user_id, amount, currency, status, created_at)
   SELECT gen_random_uuid(), 1 + (g % 1000), 100 + g % 9000, 'EUR', 'authorized', now() - (g || ' seconds')::interval
   FROM generate_series(1, 20000) AS g`,
);
await direct.query('ANALYZE payments');
const bounced = await connectPostgres(bouncerUrl, { max: POOL });

let charges = 0;
const gateway = {
  charge: () => Promise.resolve({ status: 'authorized' as const, reference: `ch_${++charges}` }),
};
const apps = {
  'pool alone': await buildTestApp({}, { db: direct, gateway }),
  'through PgBouncer': await buildTestApp({}, { db: bounced, gateway }),
};
const urls: Record<string, string> = {};
for (const [name, app] of Object.entries(apps)) {
  await app.listen({ host: '127.0.0.1', port: 0 });
  urls[name] = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
}
const mix = JSON.parse(
  readFileSync(join(root, 'examples/payments-mix.json'), 'utf8'),
) as RequestMix;

try {
  // Rounds as bench/lib/service-rounds.ts drives them, but a created payment (201) is a success.
  const samples: Record<string, LoadResult[]> = { 'pool alone': [], 'through PgBouncer': [] };
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, url] of Object.entries(urls)) {
      const result = await load({
        url,
        mix,
        connections: CONNECTIONS,
        durationMs: ROUND_MS,
        warmupMs: 500,
        seed: round,
      });
      const bad = Object.keys(result.statuses).filter((code) => !/^2\d\d$/.test(code));
      if (bad.length > 0) {
        throw new Error(`${name}: unexpected statuses ${JSON.stringify(result.statuses)}`);
      }
      samples[name]!.push(result);
    }
  }
  const summary = summarizeRounds(
    `The mix, pg pool of ${POOL} straight to PostgreSQL vs through PgBouncer (transaction mode, ${POOL} server connections), ${CONNECTIONS} connections, ${ROUNDS} rounds of ${ROUND_MS} ms`,
    samples,
  );
  const alone = summary['pool alone']!;
  const bouncer = summary['through PgBouncer']!;
  console.log(
    `  through PgBouncer = ${(bouncer.rps / alone.rps).toFixed(2)}x the throughput of the pool alone, p99 ${(bouncer.p99Ms / alone.p99Ms).toFixed(2)}x`,
  );
  writeResult('scale-pgbouncer', { connections: CONNECTIONS, pool: POOL, summary });
} finally {
  for (const app of Object.values(apps)) await app.close();
  await direct.close();
  await bounced.close();
  script('stop');
  rmSync(dir, { recursive: true, force: true });
  await database.drop();
}
