/**
 * The payments service through PgBouncer 1.18 in transaction mode: it works with unnamed
 * statements (PREPARED=off), named prepared statements (PREPARED=on) break there, a frozen
 * PgBouncer fails readiness, and one that is gone is answered 503 DATABASE_UNAVAILABLE.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { connectPostgres, instrumentPool, migrate, type PostgresDatabase } from 'hotpath/db';
import pg from 'pg';
import { buildTestApp } from '../helpers/app.js';
import { migrations } from '../../service/migrations/index.js';
import { createTestDatabase, postgresForTests } from '../helpers/services.js';
import { binaryOrSkip } from './lib/scale-cluster.js';
import { startPgBouncer, type Bouncer } from './lib/pgbouncer.js';

const server = await postgresForTests();
const skip = server.skip || binaryOrSkip('/usr/sbin/pgbouncer', 'pgbouncer');
const POOL_SIZE = 2;

/** Server connections PgBouncer holds for `database` (its admin console's SHOW POOLS). */
async function serverConnections(bouncer: Bouncer, database: string): Promise<number> {
  const url = new URL(bouncer.url);
  url.pathname = '/pgbouncer';
  // The admin console speaks only the simple query protocol.
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  try {
    const { rows } = await client.query<Record<string, string>>('SHOW POOLS');
    const row = rows.find((r) => r.database === database);
    return Number(row?.sv_active ?? 0) + Number(row?.sv_idle ?? 0) + Number(row?.sv_used ?? 0);
  } finally {
    await client.end();
  }
}

describe('the service through PgBouncer in transaction mode', { skip }, () => {
  let database: { url: string; drop: () => Promise<void> };
  let bouncer: Bouncer;
  let db: PostgresDatabase;
  let app: FastifyInstance;

  before(async () => {
    database = await createTestDatabase(server.url);
    const direct = await connectPostgres(database.url, { max: 2 });
    await migrate(direct, migrations);
    await direct.close();
    bouncer = await startPgBouncer(database.url, POOL_SIZE);
    // 20 client connections over PgBouncer's 2 server connections.
    db = await connectPostgres(bouncer.url, { max: 20 });
    let n = 0;
    app = await buildTestApp(
      { cache: 'off' },
      {
        db,
        gateway: {
          charge: () => Promise.resolve({ status: 'authorized', reference: `ch_${++n}` }),
        },
      },
    );
  });

  after(async () => {
    await app?.close();
    await db?.close();
    await bouncer?.stop();
    await database?.drop();
  });

  test('with unnamed statements (PREPARED=off), 100 concurrent payments and 150 reads all succeed on 2 server connections', async () => {
    const created = await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        app.inject({
          method: 'POST',
          url: '/api/payments',
          headers: { 'idempotency-key': `bouncer-${i}` },
          payload: { user_id: 1 + (i % 10), amount: 100 + i, currency: 'EUR' },
        }),
      ),
    );
    assert.deepEqual(new Set(created.map((r) => r.statusCode)), new Set([201]));
    const reads = await Promise.all(
      created.flatMap((r, i) => [
        app.inject({ url: `/api/payments/${r.json<{ id: string }>().id}` }),
        ...(i % 2 === 0 ? [app.inject({ url: `/api/users/${1 + (i % 10)}/summary` })] : []),
      ]),
    );
    assert.equal(reads.length, 150);
    assert.deepEqual(new Set(reads.map((r) => r.statusCode)), new Set([200]));
    const name = new URL(database.url).pathname.slice(1);
    assert.ok((await serverConnections(bouncer, name)) <= POOL_SIZE);
  });

  test('with named prepared statements (PREPARED=on), queries fail: a statement prepared on one server connection is missing or already there on another', async (t) => {
    const named = await connectPostgres(bouncer.url, { max: 20 });
    instrumentPool(named.pool, { prepare: true, stats: false });
    try {
      const results = await Promise.allSettled(
        Array.from({ length: 200 }, (_, i) =>
          i % 2 === 0
            ? named.query('SELECT count(*) FROM payments WHERE user_id = $1', [1 + (i % 10)])
            : named.query('SELECT id FROM payments WHERE amount > $1 LIMIT 1', [i]),
        ),
      );
      const failures = results.filter((r) => r.status === 'rejected');
      t.diagnostic(`${failures.length} of 200 queries failed`);
      assert.ok(failures.length > 0, 'some queries fail');
      for (const f of failures) {
        assert.match(
          String((f as PromiseRejectedResult).reason),
          /prepared statement .* (does not exist|already exists)/,
        );
      }
    } finally {
      await named.close();
    }
  });

  test('PgBouncer frozen (SIGSTOP): readiness answers 503 naming the database, and is ready again after SIGCONT', async () => {
    process.kill(bouncer.pid, 'SIGSTOP');
    try {
      const res = await app.inject({ url: '/health/ready' });
      assert.equal(res.statusCode, 503);
      assert.match(res.json<{ message: string }>().message, /database/);
    } finally {
      process.kill(bouncer.pid, 'SIGCONT');
    }
    const deadline = Date.now() + 30_000;
    let status = 0;
    while (status !== 200 && Date.now() < deadline) {
      status = (await app.inject({ url: '/health/ready' })).statusCode;
    }
    assert.equal(status, 200);
  });

  test('PgBouncer gone: reads are answered 503 DATABASE_UNAVAILABLE', async () => {
    process.kill(bouncer.pid, 'SIGKILL');
    const res = await app.inject({ url: '/api/users/1/payments' });
    assert.equal(res.statusCode, 503);
    assert.equal(res.json<{ code: string }>().code, 'DATABASE_UNAVAILABLE');
  });
});
