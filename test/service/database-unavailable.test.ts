import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createServer, type AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import {
  ConnectError,
  PoolTimeoutError,
  QueryError,
  connectPostgres,
  createPool,
  migrate,
  type PostgresDatabase,
} from 'hotpath/db';
import type { FastifyInstance } from 'fastify';
import { buildTestApp } from '../helpers/app.js';
import { isDatabaseUnavailable } from '../../service/database-unavailable.js';
import { ApiError } from '../../service/errors.js';
import { GatewayClient } from '../../service/gateway/client.js';
import { migrations } from '../../service/migrations/index.js';
import { OutageLog, type OutageLine } from '../../service/outage-log.js';
import { startGateway } from '../helpers/payments-service.js';
import { createTestDatabase, postgresForTests } from '../helpers/services.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';

const pg = await postgresForTests();

function errno(code: string, message = code): Error {
  return Object.assign(new Error(message), { code });
}

describe('isDatabaseUnavailable', () => {
  /** A driver error as PostgresDatabase hands it on: wrapped in a QueryError. */
  const fromDb = (code: string, message = code) => QueryError.from(errno(code, message));
  const cases: [string, unknown, boolean][] = [
    [
      'ECONNREFUSED from the database',
      fromDb('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:5432'),
      true,
    ],
    ['ECONNRESET from the database', fromDb('ECONNRESET', 'read ECONNRESET'), true],
    ['EPIPE from the database', fromDb('EPIPE', 'write EPIPE'), true],
    ['ETIMEDOUT from the database', fromDb('ETIMEDOUT'), true],
    [
      'an AggregateError of refused addresses from the database',
      QueryError.from(new AggregateError([errno('ECONNREFUSED'), errno('ECONNREFUSED')], '')),
      true,
    ],
    [
      'pg: Connection terminated unexpectedly',
      new Error('Connection terminated unexpectedly'),
      true,
    ],
    [
      'pg-pool: timeout exceeded when trying to connect',
      new Error('timeout exceeded when trying to connect'),
      true,
    ],
    ['SQLSTATE 08006 connection_failure', new QueryError('lost', { code: '08006' }), true],
    ['SQLSTATE 57P01 admin_shutdown', new QueryError('terminating', { code: '57P01' }), true],
    ['SQLSTATE 57P02 crash_shutdown', new QueryError('crash', { code: '57P02' }), true],
    ['SQLSTATE 57P03 cannot_connect_now', new QueryError('starting up', { code: '57P03' }), true],
    ['SQLSTATE 53300 too_many_connections', new QueryError('too many', { code: '53300' }), true],
    ['hotpath/db ConnectError', new ConnectError('cannot connect'), true],
    ['hotpath/db PoolTimeoutError', new PoolTimeoutError(50, 'no connection free'), true],
    [
      'a database error three causes down',
      new Error('outer', {
        cause: new ApiError('INTERNAL', 'mid', { cause: fromDb('ECONNRESET') }),
      }),
      true,
    ],
    ['an ApiError DATABASE_UNAVAILABLE', new ApiError('DATABASE_UNAVAILABLE', 'down'), true],
    ['SQLSTATE 23505 unique_violation', new QueryError('dup', { code: '23505' }), false],
    ['SQLSTATE 42601 syntax_error', new QueryError('syntax', { code: '42601' }), false],
    ['SQLSTATE 40001 serialization_failure', new QueryError('retry', { code: '40001' }), false],
    [
      'ECONNREFUSED of another connection (the gateway)',
      new TypeError('fetch failed', { cause: errno('ECONNREFUSED') }),
      false,
    ],
    [
      'the client going away mid-body (Node: ECONNRESET "aborted")',
      Object.assign(errno('ECONNRESET', 'aborted'), { statusCode: 400 }),
      false,
    ],
    ['an ApiError PAYMENT_NOT_FOUND', new ApiError('PAYMENT_NOT_FOUND', 'no such'), false],
    ['a TypeError', new TypeError('raw.split is not a function'), false],
    ['ENOENT from the database', fromDb('ENOENT'), false],
    ['a string', 'ECONNREFUSED', false],
    ['undefined', undefined, false],
    ['null', null, false],
  ];
  for (const [name, error, expected] of cases) {
    test(`${name}: ${expected}`, () => {
      assert.equal(isDatabaseUnavailable(error), expected);
    });
  }

  test('a cause chain that loops ends', () => {
    const a = new Error('a');
    const b = new Error('b', { cause: a });
    (a as { cause?: unknown }).cause = b;
    assert.equal(isDatabaseUnavailable(a), false);
  });
});

describe('OutageLog', () => {
  test('logs the first report, counts the next ones for 10 s, then logs with the count', () => {
    let now = 0;
    const lines: OutageLine[] = [];
    const log = new OutageLog({ write: (line) => lines.push(line), now: () => now });
    const refused = QueryError.from(errno('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:1'));
    log.report(refused);
    for (let i = 0; i < 99; i++) {
      now += 50;
      log.report(refused);
    }
    assert.deepEqual(lines, [
      { reason: 'connect ECONNREFUSED 127.0.0.1:1', code: 'ECONNREFUSED', suppressed: 0 },
    ]);
    now = 10_000;
    log.report(new Error('Connection terminated unexpectedly'));
    assert.deepEqual(lines.at(-1), {
      reason: 'Connection terminated unexpectedly',
      code: undefined,
      suppressed: 99,
    });
  });
});

describe('isDatabaseUnavailable on a real PostgreSQL server', { skip: pg.skip }, () => {
  let created: { url: string; drop: () => Promise<void> };
  let db: PostgresDatabase;
  before(async () => {
    created = await createTestDatabase(pg.url);
    db = await connectPostgres(created.url, { max: 2 });
  });
  after(async () => {
    await db?.close();
    await created?.drop();
  });

  test('connecting to a port nobody listens on', async () => {
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const { port } = probe.address() as AddressInfo;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const url = new URL(created.url);
    url.port = String(port);
    const error = await connectPostgres(url.toString()).then(
      () => assert.fail('connected to a closed port'),
      (e: unknown) => e,
    );
    assert.ok(error instanceof ConnectError);
    assert.equal(isDatabaseUnavailable(error), true);
  });

  test('a query whose backend is terminated (pg_terminate_backend: 57P01)', async () => {
    const tag = `hp-terminate-${randomUUID()}`;
    const sleeping = db.query(`SELECT pg_sleep(30) /* ${tag} */`).then(
      () => assert.fail('the query was not terminated'),
      (e: unknown) => e,
    );
    const { default: pgModule } = await import('pg');
    const admin = new pgModule.Client({ connectionString: pg.url });
    await admin.connect();
    try {
      // Wait until the query runs on the server, then end its backend.
      for (;;) {
        const { rows } = await admin.query<{ ended: boolean }>(
          `SELECT pg_terminate_backend(pid) AS ended FROM pg_stat_activity
           WHERE query LIKE $1 AND pid <> pg_backend_pid()`,
          [`%${tag}%`],
        );
        if (rows.some((r) => r.ended)) break;
      }
    } finally {
      await admin.end();
    }
    const error = await sleeping;
    assert.ok(error instanceof QueryError);
    assert.equal(error.sqlState, '57P01');
    assert.equal(isDatabaseUnavailable(error), true);
  });

  test('no pool connection free before the acquire deadline', async () => {
    const pool = await createPool({ connectionString: created.url, max: 1, acquireTimeoutMs: 50 });
    const held = await pool.connect();
    try {
      const error = await pool.connect(AbortSignal.timeout(60_000)).then(
        () => assert.fail('got a second connection from a pool of one'),
        (e: unknown) => e,
      );
      assert.ok(error instanceof PoolTimeoutError);
      assert.equal(isDatabaseUnavailable(error), true);
    } finally {
      held.release();
      await pool.close();
    }
  });

  for (const [name, sql, state] of [
    [
      'a unique violation',
      'CREATE TEMP TABLE t (id int UNIQUE); INSERT INTO t VALUES (1), (1)',
      '23505',
    ],
    ['a syntax error', 'SELEC 1', '42601'],
    ['a division by zero', 'SELECT 1 / 0', '22012'],
  ] as const) {
    test(`${name} is not`, async () => {
      const error = await db.query(sql).then(
        () => assert.fail('the query succeeded'),
        (e: unknown) => e,
      );
      assert.ok(error instanceof QueryError);
      assert.equal(error.sqlState, state);
      assert.equal(isDatabaseUnavailable(error), false);
    });
  }
});

interface LogLine {
  level: number;
  msg: string;
  suppressed?: number;
  err?: { stack?: string };
}

describe('the service with PostgreSQL gone under load', { skip: pg.skip }, () => {
  let created: { url: string; drop: () => Promise<void> };
  let proxy: TcpProxy;
  let db: PostgresDatabase;
  let gateway: Awaited<ReturnType<typeof startGateway>>;
  let client: GatewayClient;
  let app: FastifyInstance;
  const lines: LogLine[] = [];

  before(async () => {
    created = await createTestDatabase(pg.url);
    const target = new URL(created.url);
    proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port) });
    db = await connectPostgres(proxy.url(created.url), { max: 4, connectionTimeoutMillis: 2000 });
    await migrate(db, migrations);
    gateway = await startGateway();
    client = new GatewayClient({ url: gateway.url, retries: 0, timeoutMs: 2000, backoffMs: 1 });
    app = await buildTestApp(
      { logLevel: 'info' },
      {
        db,
        gateway: client,
        logStream: { write: (line) => void lines.push(JSON.parse(line) as LogLine) },
      },
    );
  });
  after(async () => {
    await app?.close();
    await client?.close();
    await new Promise<void>((resolve) => {
      if (gateway === undefined) return resolve();
      gateway.server.closeAllConnections();
      gateway.server.close(() => resolve());
    });
    await db?.close();
    await proxy?.close();
    await created?.drop();
  });

  const requests = (i: number) => [
    () => app.inject({ method: 'GET', url: `/api/payments/${uuid7Like(i)}` }),
    () =>
      app.inject({
        method: 'POST',
        url: '/api/payments',
        headers: { 'content-type': 'application/json', 'idempotency-key': `outage-${i}` },
        payload: { user_id: 1000 + i, amount: 100 + i, currency: 'EUR' },
      }),
    () => app.inject({ method: 'GET', url: `/api/users/${2000 + i}/payments` }),
    () => app.inject({ method: 'GET', url: `/api/users/${3000 + i}/summary` }),
  ];

  test('every request answers 503 DATABASE_UNAVAILABLE with Retry-After, logged on one line', async () => {
    const warm = await app.inject({ method: 'GET', url: '/api/users/1/summary' });
    assert.equal(warm.statusCode, 200);
    await proxy.stop();
    lines.length = 0;
    const started = performance.now();
    const answers = await Promise.all(
      Array.from({ length: 10 }, (_, i) => requests(i).map((send) => send())).flat(),
    );
    const elapsedMs = performance.now() - started;
    for (const res of answers) {
      assert.equal(res.statusCode, 503, res.body);
      assert.equal(res.json().code, 'DATABASE_UNAVAILABLE');
      assert.equal(typeof res.json().message, 'string');
      const retryAfter = Number(res.headers['retry-after']);
      assert.ok(retryAfter >= 1 && retryAfter <= 5, `Retry-After ${res.headers['retry-after']}`);
    }
    const outageLines = lines.filter((l) => l.msg.startsWith('database unavailable'));
    // One line per started 10 s: the requests above take well under that.
    assert.ok(outageLines.length >= 1);
    assert.ok(
      outageLines.length <= 1 + Math.floor(elapsedMs / 10_000),
      `${outageLines.length} lines`,
    );
    assert.deepEqual(
      lines.filter((l) => l.err?.stack !== undefined || l.msg === 'unhandled error'),
      [],
    );

    const ready = await app.inject({ method: 'GET', url: '/health/ready' });
    assert.equal(ready.statusCode, 503);
    assert.match(ready.json().message, /^database is down/);
  });

  test('requests are served again once PostgreSQL is back', async () => {
    await proxy.start();
    // The pool drops the connections it lost as it finds them: at most one failure each.
    let res = await app.inject({ method: 'GET', url: '/api/users/1/payments' });
    for (let attempt = 0; res.statusCode === 503 && attempt < 10; attempt++) {
      res = await app.inject({ method: 'GET', url: '/api/users/1/payments' });
    }
    assert.equal(res.statusCode, 200, res.body);
    const ready = await app.inject({ method: 'GET', url: '/health/ready' });
    assert.equal(ready.statusCode, 200);
  });
});

/** A syntactically valid UUIDv7 that no payment has. */
function uuid7Like(i: number): string {
  return `01890000-0000-7000-8000-${String(i).padStart(12, '0')}`;
}
