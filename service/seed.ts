/**
 * Fills the payments database with synthetic users and payments, fast: rows go in as arrays
 * through `unnest` (one statement per chunk of 5,000), then ANALYZE.
 *
 *   npm run seed -- --users 1000 --payments 100000 [--database-url URL | --data-dir DIR |
 *     --database-shard-urls URL,URL]
 *
 * Without --database-url (or DATABASE_URL) it fills the embedded database in ./data. With
 * shards, each row goes to its user's shard under an id naming it, as the service places them.
 */
import { ShardRouter, createDatabase, migrate, type Database } from 'hotpath/db';
import { currencies } from './payments/currencies.js';
import { migrations } from './migrations/index.js';
import { uuid7 } from './payments/uuid7.js';

const usage = `usage: npm run seed -- --users N --payments M [--database-url URL | --data-dir DIR |
       --database-shard-urls URL,URL,...] [--chunk N]

Adds M payments spread over N users (ids 1..N) and the last 30 days, in final states
(about 90% authorized, 7% declined, 3% failed). DATABASE_URL / DATA_DIR /
DATABASE_SHARD_URLS are read too; with shards, each payment goes to its user's shard.`;

function fail(message: string): never {
  console.error(`seed: ${message}`);
  process.exit(2);
}

function parseArgs(argv: string[]) {
  const out = {
    users: 1000,
    payments: 10_000,
    chunk: 5000,
    databaseUrl: process.env.DATABASE_URL,
    shardUrls: process.env.DATABASE_SHARD_URLS,
    dataDir: process.env.DATA_DIR ?? './data',
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    if (flag === '--help' || flag === '-h') {
      console.log(usage);
      process.exit(0);
    }
    const value = argv[++i];
    if (value === undefined) fail(`${flag} needs a value\n${usage}`);
    const count = (min: number, max: number) => {
      const n = Number(value);
      if (!/^\d+$/.test(value) || n < min || n > max)
        fail(`${flag}: expected an integer in [${min}, ${max}], got "${value}"`);
      return n;
    };
    if (flag === '--users') out.users = count(1, 100_000_000);
    else if (flag === '--payments') out.payments = count(0, 1_000_000_000);
    else if (flag === '--chunk') out.chunk = count(1, 100_000);
    else if (flag === '--database-url') out.databaseUrl = value;
    else if (flag === '--data-dir') out.dataDir = value;
    else if (flag === '--database-shard-urls') out.shardUrls = value;
    else fail(`unknown flag ${flag}\n${usage}`);
  }
  return out;
}

function progress(done: number, total: number, startedMs: number): void {
  const elapsed = (performance.now() - startedMs) / 1000;
  const rate = done / Math.max(elapsed, 1e-9);
  const line = `${done.toLocaleString('en')} / ${total.toLocaleString('en')} payments  ${Math.round(rate).toLocaleString('en')}/s`;
  if (process.stdout.isTTY) {
    const width = 30;
    const filled = Math.round((done / Math.max(total, 1)) * width);
    process.stdout.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${line}   `);
    if (done === total) process.stdout.write('\n');
  } else if (
    done === total ||
    Math.floor((done / total) * 10) !== Math.floor(((done - 1) / total) * 10)
  ) {
    console.log(line);
  }
}

const options = parseArgs(process.argv.slice(2));
const shardUrls =
  options.shardUrls === undefined || options.shardUrls === ''
    ? undefined
    : options.shardUrls.split(',').map((u) => u.trim());
const dbs: Database[] = [];
try {
  if (shardUrls !== undefined) {
    for (const url of shardUrls) dbs.push(await createDatabase({ url }));
  } else {
    dbs.push(
      await createDatabase({
        url: options.databaseUrl,
        dataDir: options.dataDir,
        onProgress: (m) => console.log(`seed: ${m}`),
      }),
    );
  }
} catch (error) {
  fail(
    `${shardUrls !== undefined ? 'DATABASE_SHARD_URLS' : options.databaseUrl ? 'DATABASE_URL' : 'DATA_DIR'}: ${(error as Error).message}`,
  );
}
for (const db of dbs) await migrate(db, migrations);
const router = new ShardRouter({ shards: dbs });
const sharded = dbs.length > 1;

const popular = ['EUR', 'USD', 'GBP', 'JPY', 'CHF'];
const statuses = ['authorized', 'declined', 'failed'] as const;
const dayMs = 86_400_000;
const startMs = Date.now() - 30 * dayMs;
const stepMs = (30 * dayMs) / Math.max(options.payments, 1);
let random = 12345;
const next = () => {
  // xorshift32: reproducible and much cheaper than Math.random for millions of rows.
  random ^= random << 13;
  random ^= random >>> 17;
  random ^= random << 5;
  return (random >>> 0) / 4294967296;
};

const started = performance.now();
for (let offset = 0; offset < options.payments; offset += options.chunk) {
  const n = Math.min(options.chunk, options.payments - offset);
  const columns = dbs.map(() => ({
    ids: [] as string[],
    users: [] as number[],
    amounts: [] as number[],
    currencyCol: [] as string[],
    statusCol: [] as string[],
    refs: [] as (string | null)[],
    reasons: [] as (string | null)[],
    created: [] as string[],
  }));
  for (let i = 0; i < n; i++) {
    const at = Math.floor(startMs + (offset + i) * stepMs);
    const user = 1 + Math.floor(next() * options.users);
    const shard = router.indexFor(user);
    const { ids, users, amounts, currencyCol, statusCol, refs, reasons, created } = columns[shard]!;
    ids.push(sharded ? uuid7(at, shard) : uuid7(at));
    users.push(user);
    amounts.push(100 + Math.floor(next() * 99_900));
    const r = next();
    currencyCol.push(
      r < 0.95
        ? popular[Math.floor(r * 5.26)]!
        : currencies[Math.floor(next() * currencies.length)]!,
    );
    const s = next();
    const status = s < 0.9 ? statuses[0] : s < 0.97 ? statuses[1] : statuses[2];
    statusCol.push(status);
    refs.push(status === 'authorized' ? `ch_seed${offset + i}` : null);
    reasons.push(
      status === 'declined'
        ? 'insufficient_funds'
        : status === 'failed'
          ? 'gateway_unavailable'
          : null,
    );
    created.push(new Date(at).toISOString());
  }
  for (const [shard, c] of columns.entries()) {
    if (c.ids.length === 0) continue;
    await dbs[shard]!.query(
      `INSERT INTO payments (id, user_id, amount, currency, status, gateway_ref, failure_reason, created_at, updated_at)
     SELECT id, user_id, amount, currency, status, ref, reason, created, created
     FROM unnest($1::uuid[], $2::bigint[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[], $8::timestamptz[])
       AS t(id, user_id, amount, currency, status, ref, reason, created)`,
      [c.ids, c.users, c.amounts, c.currencyCol, c.statusCol, c.refs, c.reasons, c.created],
    );
  }
  progress(offset + n, options.payments, started);
}
for (const db of dbs) await db.query('ANALYZE payments');
const seconds = (performance.now() - started) / 1000;
console.log(
  `seed: ${options.payments.toLocaleString('en')} payments for ${options.users.toLocaleString('en')} users in ${seconds.toFixed(2)} s ` +
    `(${Math.round(options.payments / Math.max(seconds, 1e-9)).toLocaleString('en')} rows/s, ${sharded ? `${dbs.length} PostgreSQL shards` : dbs[0]!.kind === 'pglite' ? 'embedded PGlite' : 'PostgreSQL server'})`,
);
await Promise.all(dbs.map((db) => db.close()));
