/**
 * Read queries on the primary, the payments service on the primary alone vs with a streaming
 * replica (DATABASE_REPLICA_URL: hotpath/db ReplicaRouter with read-your-writes), same run,
 * interleaved rounds, each side with the cache on (the default) and off. Both sides share one
 * primary and one replica (scripts/scale.sh pg start); queries are counted per server with
 * pg_stat_statements, reset before each round. The load is the shipped mix
 * (examples/payments-mix.json: 90% reads, 10% payment creations), closed model.
 *
 *   npm run bench -- scale --filter replica
 *   ROUNDS=3 ROUND_MS=4000 CONNECTIONS=16 npm run bench -- scale --filter replica
 *
 * Goal: the primary's read queries drop by at least 80% with the replica.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { connectPostgres, migrate } from 'hotpath/db';
import { load, type RequestMix } from 'hotpath/load';
import pg from 'pg';
import { buildTestApp } from '../../test/helpers/app.js';
import { migrations } from '../../service/migrations/index.js';
import { environment, median, writeResult } from '../lib/report.js';

const ROUNDS = Number(process.env.ROUNDS ?? 3);
const ROUND_MS = Number(process.env.ROUND_MS ?? 4000);
const CONNECTIONS = Number(process.env.CONNECTIONS ?? 16);
const GOAL = 0.8;
const root = resolve(import.meta.dirname, '..', '..');

const dir = mkdtempSync(join(tmpdir(), 'hotpath-replica-bench-'));
const script = (...args: string[]) =>
  execFileSync('bash', [join(root, 'scripts/scale.sh'), 'pg', ...args], {
    env: { ...process.env, HOTPATH_SCALE_DIR: dir },
    cwd: root,
    encoding: 'utf8',
  });
script('start');
const vars = Object.fromEntries(
  readFileSync(join(dir, 'pg.env'), 'utf8')
    .trim()
    .split('\n')
    .map((line) => line.replace(/^export /, '').split('=', 2) as [string, string]),
);
const primaryUrl = vars.DATABASE_URL!;
const replicaUrl = vars.DATABASE_REPLICA_URL!;

const admin = { primary: new pg.Client(primaryUrl), replica: new pg.Client(replicaUrl) };
await admin.primary.connect();
await admin.replica.connect();

const primary = await connectPostgres(primaryUrl, { max: 16 });
await migrate(primary, migrations);
await primary.query(
  `INSERT INTO payments (id, user_id, amount, currency, status, created_at)
   SELECT gen_random_uuid(), 1 + (g % 1000), 100 + g % 9000, 'EUR', 'authorized', now() - (g || ' seconds')::interval
   FROM generate_series(1, 20000) AS g`,
);
await primary.query('ANALYZE payments');
const replica = await connectPostgres(replicaUrl, { max: 16 });
// The replica has the seed once its replay passed the primary's position now.
const { rows: at } = await admin.primary.query<{ lsn: string }>(
  'SELECT pg_current_wal_insert_lsn()::text AS lsn',
);
for (;;) {
  const { rows } = await admin.replica.query<{ ok: boolean }>(
    'SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS ok',
    [at[0]!.lsn],
  );
  if (rows[0]!.ok) break;
  await new Promise((r) => setTimeout(r, 100));
}

let charges = 0;
const gateway = {
  charge: () => Promise.resolve({ status: 'authorized' as const, reference: `ch_${++charges}` }),
};
const apps: Record<string, FastifyInstance> = {};
for (const cache of ['on', 'off'] as const) {
  apps[`primary only, cache ${cache}`] = await buildTestApp({ cache }, { db: primary, gateway });
  apps[`with replica, cache ${cache}`] = await buildTestApp(
    { cache },
    { db: primary, replica, gateway },
  );
}
const urls: Record<string, string> = {};
for (const [name, app] of Object.entries(apps)) {
  await app.listen({ host: '127.0.0.1', port: 0 });
  urls[name] = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
}
const mix = JSON.parse(
  readFileSync(join(root, 'examples/payments-mix.json'), 'utf8'),
) as RequestMix;

/** Read statements run on a server since the last reset: all, and the router's LSN reads. */
async function reads(client: pg.Client): Promise<{ reads: number; lsn: number }> {
  const { rows } = await client.query<{ reads: string | null; lsn: string | null }>(
    `SELECT sum(calls) FILTER (WHERE query !~* 'wal_(insert|replay)_lsn|^select \\$1$') AS reads,
            sum(calls) FILTER (WHERE query ~* 'wal_(insert|replay)_lsn') AS lsn
     FROM pg_stat_statements
     WHERE query ~* '^\\s*(select|with)' AND query !~* 'pg_stat_statements'`,
  );
  return { reads: Number(rows[0]!.reads ?? 0), lsn: Number(rows[0]!.lsn ?? 0) };
}

interface Sample {
  requests: number;
  rps: number;
  p99Ms: number;
  primaryReads: number;
  primaryLsnReads: number;
  replicaReads: number;
  failed: number;
}
const samples: Record<string, Sample[]> = Object.fromEntries(Object.keys(urls).map((n) => [n, []]));
try {
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, url] of Object.entries(urls)) {
      await admin.primary.query('SELECT pg_stat_statements_reset()');
      await admin.replica.query('SELECT pg_stat_statements_reset()');
      const result = await load({
        url,
        mix,
        connections: CONNECTIONS,
        durationMs: ROUND_MS,
        warmupMs: 0,
        seed: round,
      });
      const p = await reads(admin.primary);
      const r = await reads(admin.replica);
      const failed = Object.entries(result.statuses)
        .filter(([code]) => !/^2\d\d$/.test(code))
        .reduce((a, [, n]) => a + n, 0);
      samples[name]!.push({
        requests: result.completed,
        rps: result.requestsPerSecond,
        p99Ms: result.latency.percentiles['99']! / 1000,
        primaryReads: p.reads,
        primaryLsnReads: p.lsn,
        replicaReads: r.reads,
        failed,
      });
    }
  }
} finally {
  for (const app of Object.values(apps)) await app.close();
  await primary.close();
  await replica.close();
  await admin.primary.end();
  await admin.replica.end();
  script('stop');
  rmSync(dir, { recursive: true, force: true });
}

const env = environment();
console.log(
  `Read queries on the primary per 1000 requests of the mix, ${CONNECTIONS} connections, ${ROUNDS} rounds of ${ROUND_MS} ms, median  (node ${env.node}, ${env.cpu}, ${env.cores} cores)`,
);
const per1000 = (s: Sample, key: 'primaryReads' | 'primaryLsnReads' | 'replicaReads') =>
  (s[key] * 1000) / s.requests;
const summary: Record<string, unknown> = {};
for (const [name, list] of Object.entries(samples)) {
  const row = {
    rps: median(list.map((s) => s.rps)),
    p99Ms: median(list.map((s) => s.p99Ms)),
    primaryReadsPer1000: median(list.map((s) => per1000(s, 'primaryReads'))),
    primaryLsnReadsPer1000: median(list.map((s) => per1000(s, 'primaryLsnReads'))),
    replicaReadsPer1000: median(list.map((s) => per1000(s, 'replicaReads'))),
    failed: list.reduce((a, s) => a + s.failed, 0),
  };
  summary[name] = { ...row, rounds: list };
  console.log(
    `  ${name.padEnd(24)} primary ${row.primaryReadsPer1000.toFixed(0).padStart(4)} reads (+ ${row.primaryLsnReadsPer1000.toFixed(0)} LSN reads)   replica ${row.replicaReadsPer1000.toFixed(0).padStart(4)} reads   ${row.rps.toFixed(0)} req/s   p99 ${row.p99Ms.toFixed(1)} ms   ${row.failed} non-2xx`,
  );
}
for (const cache of ['on', 'off']) {
  const alone = (summary[`primary only, cache ${cache}`] as { primaryReadsPer1000: number })
    .primaryReadsPer1000;
  const withReplica = (summary[`with replica, cache ${cache}`] as { primaryReadsPer1000: number })
    .primaryReadsPer1000;
  const drop = 1 - withReplica / alone;
  summary[`drop, cache ${cache}`] = drop;
  console.log(
    `  cache ${cache}: the primary's read queries drop by ${(drop * 100).toFixed(1)}% with the replica (goal >= ${GOAL * 100}%: ${drop >= GOAL ? 'met' : 'NOT met'})`,
  );
}
writeResult('scale-replica', {
  rounds: ROUNDS,
  roundMs: ROUND_MS,
  connections: CONNECTIONS,
  summary,
});
