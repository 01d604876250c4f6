/**
 * The payments service on two PostgreSQL databases (DATABASE_SHARD_URLS), end to end through
 * the API: two fresh databases on the test server, each behind a TCP proxy that can cut it (as
 * a stopped server: resets and refusals) or freeze it (connections stay open, nothing moves).
 * Rows are checked with direct SQL on each shard, not through the service.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { ShardRouter, connectPostgres, migrate, type PostgresDatabase } from 'hotpath/db';
import { buildTestApp, buildTestService } from '../helpers/app.js';
import type { PaymentService } from '../../service/payments/payment-service.js';
import { GatewayClient } from '../../service/gateway/client.js';
import { checkInvariant } from '../../service/invariant/index.js';
import { migrations } from '../../service/migrations/index.js';
import { Reconciler } from '../../service/payments/reconciler.js';
import { shardOfId } from '../../service/payments/uuid7.js';
import { startGateway } from '../helpers/payments-service.js';
import { createTestDatabase, postgresForTests } from '../helpers/services.js';

const pg = await postgresForTests();
const root = resolve(import.meta.dirname, '..', '..');

/** A TCP proxy in front of one shard: `cut()` as a stopped server, `freeze()` as a hung one. */
interface ShardProxy {
  url(url: string): string;
  cut(): Promise<void>;
  freeze(): void;
  /** Undoes `cut()` or `freeze()`. */
  restore(): Promise<void>;
  close(): Promise<void>;
}

async function startShardProxy(target: URL): Promise<ShardProxy> {
  const pairs = new Set<[Socket, Socket]>();
  let frozen = false;
  let server: Server | undefined;
  let port = 0;
  const flow = ([client, upstream]: [Socket, Socket]) => {
    client.pipe(upstream);
    upstream.pipe(client);
  };
  const hold = ([client, upstream]: [Socket, Socket]) => {
    client.unpipe(upstream);
    upstream.unpipe(client);
    client.pause();
    upstream.pause();
  };
  const listen = async () => {
    const next = createServer((client) => {
      const upstream = connect(Number(target.port), target.hostname);
      const pair: [Socket, Socket] = [client, upstream];
      pairs.add(pair);
      for (const socket of pair) {
        socket.on('close', () => pairs.delete(pair));
        socket.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      if (frozen) hold(pair);
      else flow(pair);
    });
    await new Promise<void>((resolve, reject) => {
      next.once('error', reject);
      next.listen(port, '127.0.0.1', () => resolve());
    });
    port = (next.address() as AddressInfo).port;
    server = next;
  };
  await listen();
  const cut = async () => {
    const current = server;
    server = undefined;
    for (const [client, upstream] of pairs) {
      client.resetAndDestroy();
      upstream.destroy();
    }
    if (current !== undefined) await new Promise<void>((resolve) => current.close(() => resolve()));
  };
  return {
    url: (raw) => {
      const u = new URL(raw);
      u.hostname = '127.0.0.1';
      u.port = String(port);
      return u.toString();
    },
    cut,
    freeze: () => {
      frozen = true;
      for (const pair of pairs) hold(pair);
    },
    restore: async () => {
      if (frozen) {
        frozen = false;
        for (const pair of pairs) flow(pair);
      }
      if (server === undefined) await listen();
    },
    close: cut,
  };
}

interface Answer {
  status: number;
  headers: Record<string, unknown>;
  body: Record<string, unknown>;
}

async function call(
  app: FastifyInstance,
  method: 'GET' | 'POST',
  url: string,
  payload?: object,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const res = await app.inject({
    method,
    url,
    headers: payload === undefined ? headers : { 'content-type': 'application/json', ...headers },
    ...(payload === undefined ? {} : { payload: JSON.stringify(payload) }),
  });
  return { status: res.statusCode, headers: res.headers, body: res.json() };
}

const pay = (app: FastifyInstance, userId: number, amount: number, key?: string) =>
  call(
    app,
    'POST',
    '/api/payments',
    { user_id: userId, amount, currency: 'EUR' },
    key === undefined ? {} : { 'idempotency-key': key },
  );

/** The same placement the service uses: jump hash over two shards. */
const router = new ShardRouter({ shards: [0, 1] });

function usersOn(shard: number, count: number, from: number): number[] {
  const out: number[] = [];
  for (let u = from; out.length < count; u++) if (router.indexFor(u) === shard) out.push(u);
  return out;
}

function keyOn(shard: number, prefix: string): string {
  for (let i = 0; ; i++) if (router.indexFor(`${prefix}-${i}`) === shard) return `${prefix}-${i}`;
}

describe('the payments service sharded by user_id over two databases', { skip: pg.skip }, () => {
  const created: { url: string; drop: () => Promise<void> }[] = [];
  const proxies: ShardProxy[] = [];
  /** What the service uses, through the proxies. */
  const shards: PostgresDatabase[] = [];
  /** Direct connections for the test's own SQL. */
  const direct: PostgresDatabase[] = [];
  let gateway: Awaited<ReturnType<typeof startGateway>>;
  let client: GatewayClient;
  /** Two instances of the service on the same two shards. */
  let app: FastifyInstance;
  let payments: PaymentService;
  let other: FastifyInstance;

  /** Rows of `sql` on each shard. */
  async function onShards<Row>(sql: string, params: unknown[] = []): Promise<Row[][]> {
    return Promise.all(direct.map(async (db) => (await db.query<Row>(sql, params)).rows));
  }

  async function waitReady(): Promise<void> {
    for (let i = 0; i < 200; i++) {
      const ready = await call(app, 'GET', '/health/ready');
      if (ready.status === 200 && ready.body.status === 'ready') return;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.fail('the service did not become ready again');
  }

  before(async () => {
    for (let i = 0; i < 2; i++) {
      const db = await createTestDatabase(pg.url);
      created.push(db);
      const proxy = await startShardProxy(new URL(db.url));
      proxies.push(proxy);
      shards.push(
        await connectPostgres(proxy.url(db.url), { max: 8, connectionTimeoutMillis: 2000 }),
      );
      direct.push(await connectPostgres(db.url, { max: 2 }));
    }
    // As main.ts does: every shard migrated before the service starts.
    await Promise.all(shards.map((db) => migrate(db, migrations)));
    gateway = await startGateway();
    client = new GatewayClient({ url: gateway.url, retries: 0, timeoutMs: 2000, backoffMs: 1 });
    const build = () => buildTestService({}, { db: shards[0]!, shards, gateway: client });
    ({ app, payments } = await build());
    other = (await build()).app;
  });

  after(async () => {
    await app?.close();
    await other?.close();
    await client?.close();
    await new Promise<void>((resolve) => {
      if (gateway === undefined) return resolve();
      gateway.server.closeAllConnections();
      gateway.server.close(() => resolve());
    });
    for (const db of [...shards, ...direct]) await db.close();
    for (const proxy of proxies) await proxy.close();
    for (const db of created) await db.drop();
  });

  test('every shard is migrated: each has the payments and idempotency_keys tables', async () => {
    const tables = await onShards<{ name: string }>(
      `SELECT table_name AS name FROM information_schema.tables
       WHERE table_name IN ('payments', 'idempotency_keys') ORDER BY table_name`,
    );
    for (const rows of tables)
      assert.deepEqual(
        rows.map((r) => r.name),
        ['idempotency_keys', 'payments'],
      );
  });

  test("payments of 40 users land on their user's shard only, under ids naming that shard", async () => {
    const users = Array.from({ length: 40 }, (_, i) => 1000 + i);
    const idsOf = new Map<number, string[]>();
    for (const user of users) {
      // Two payments each: one without a key, one with.
      for (const key of [undefined, `land-${user}`]) {
        const answer = await pay(user % 2 === 0 ? app : other, user, 100 + user, key);
        assert.equal(answer.status, 201, JSON.stringify(answer.body));
        idsOf.set(user, [...(idsOf.get(user) ?? []), answer.body.id as string]);
      }
    }
    const rows = await onShards<{ user_id: number; id: string }>(
      'SELECT user_id::int AS user_id, id::text AS id FROM payments WHERE user_id = ANY($1::bigint[])',
      [users],
    );
    const placed = new Set<number>();
    for (const user of users) {
      const home = router.indexFor(user);
      placed.add(home);
      const here = rows[home]!.filter((r) => r.user_id === user).map((r) => r.id);
      const there = rows[1 - home]!.filter((r) => r.user_id === user);
      assert.deepEqual(here.sort(), [...idsOf.get(user)!].sort(), `user ${user} on shard ${home}`);
      assert.deepEqual(there, [], `user ${user} has no row on shard ${1 - home}`);
      for (const id of here) assert.equal(shardOfId(id), home, `id ${id} names shard ${home}`);
    }
    assert.deepEqual([...placed].sort(), [0, 1], 'the 40 users use both shards');
  });

  test('every route answers as it does on one database', async (t) => {
    const single = await createTestDatabase(pg.url);
    const one = await connectPostgres(single.url, { max: 4 });
    await migrate(one, migrations);
    // Its own gateway: the shards' ledger must hold only the shards' charges.
    const aloneGateway = await startGateway();
    const aloneClient = new GatewayClient({ url: aloneGateway.url, retries: 0, backoffMs: 1 });
    const alone = await buildTestApp({}, { db: one, gateway: aloneClient });
    t.after(async () => {
      await alone.close();
      await aloneClient.close();
      await new Promise<void>((resolve) => {
        aloneGateway.server.closeAllConnections();
        aloneGateway.server.close(() => resolve());
      });
      await one.close();
      await single.drop();
    });
    const users = [...usersOn(0, 4, 2000), ...usersOn(1, 4, 2000)];
    // Timestamps, ids and gateway references differ by nature; everything else must not.
    const strip = (value: unknown): unknown =>
      JSON.parse(JSON.stringify(value), (k: string, v: unknown) =>
        ['id', 'created_at', 'updated_at', 'gateway_ref'].includes(k) ? undefined : v,
      ) as unknown;
    const run = async (target: FastifyInstance) => {
      const out: Record<string, unknown> = {};
      const ids: string[] = [];
      for (const [i, user] of users.entries()) {
        for (let j = 0; j <= i % 3; j++) {
          const created = await pay(target, user, 100 * (j + 1) + user, `same-${user}-${j}`);
          out[`create ${user}/${j}`] = [created.status, strip(created.body)];
          ids.push(created.body.id as string);
        }
        // A retry replays the stored payment.
        const replay = await pay(target, user, 100 + user, `same-${user}-0`);
        out[`replay ${user}`] = [
          replay.status,
          replay.headers['idempotent-replayed'],
          strip(replay.body),
        ];
        const reused = await pay(target, users[(i + 1) % users.length]!, 5, `same-${user}-0`);
        out[`reused ${user}`] = [reused.status, reused.body.code];
      }
      for (const [n, id] of ids.entries()) {
        const got = await call(target, 'GET', `/api/payments/${id}`);
        out[`get ${n}`] = [got.status, got.body.id === id, strip(got.body)];
      }
      for (const user of users) {
        const pages: unknown[] = [];
        let cursor: string | null = null;
        do {
          const page: Answer = await call(
            target,
            'GET',
            `/api/users/${user}/payments?limit=2${cursor === null ? '' : `&cursor=${cursor}`}`,
          );
          pages.push([page.status, strip(page.body.items), page.body.next_cursor !== null]);
          cursor = page.body.next_cursor as string | null;
        } while (cursor !== null);
        out[`pages ${user}`] = pages;
        const summary = await call(target, 'GET', `/api/users/${user}/summary`);
        out[`summary ${user}`] = [summary.status, summary.body];
      }
      const latest = await call(
        target,
        'GET',
        `/api/users/latest-payments?ids=${users.join(',')},9`,
      );
      out.latest = [latest.status, strip(latest.body)];
      const missing = await call(
        target,
        'GET',
        '/api/payments/01a23b3f-eb07-7000-8197-6352365dd17c',
      );
      out.missing = [missing.status, missing.body.code];
      return out;
    };
    const sharded = await run(app);
    const unsharded = await run(alone);
    assert.deepEqual(sharded, unsharded);
    assert.deepEqual(sharded.missing, [404, 'PAYMENT_NOT_FOUND']);
  });

  test('latest-payments for users on both shards asks each shard once, for its own users', async () => {
    const [a, b] = [usersOn(0, 1, 3000)[0]!, usersOn(1, 1, 3000)[0]!];
    const answers = [await pay(app, a, 111), await pay(app, b, 222)];
    const latest = await call(app, 'GET', `/api/users/latest-payments?ids=${a},${b}`);
    assert.equal(latest.status, 200);
    const items = latest.body.items as { user_id: number; payment: { id: string } }[];
    assert.deepEqual(
      items.map((i) => [i.user_id, i.payment.id]),
      [
        [a, answers[0]!.body.id],
        [b, answers[1]!.body.id],
      ],
    );
  });

  test('one key, then another user on the other shard: 422 IDEMPOTENCY_KEY_REUSED; the same body replays', async () => {
    const [a, b] = [usersOn(0, 1, 4000)[0]!, usersOn(1, 1, 4000)[0]!];
    for (const keyShard of [0, 1]) {
      const key = keyOn(keyShard, 'cross');
      const first = await pay(app, a, 500, key);
      assert.equal(first.status, 201);
      const reused = await pay(other, b, 500, key);
      assert.deepEqual([reused.status, reused.body.code], [422, 'IDEMPOTENCY_KEY_REUSED']);
      const replay = await pay(other, a, 500, key);
      assert.deepEqual(
        [replay.status, replay.headers['idempotent-replayed'], replay.body.id],
        [201, 'true', first.body.id],
      );
      const rows = await onShards<{ user_id: number }>(
        'SELECT user_id::int AS user_id FROM payments WHERE idempotency_key = $1',
        [key],
      );
      assert.deepEqual(rows, [[{ user_id: a }], []], `key ${key}: one row, on user ${a}'s shard`);
    }
  });

  for (const keyShard of [0, 1]) {
    test(`one key (recorded on shard ${keyShard}), 10 different users at once on two instances: one 201, every other answer 422 or 409, one row on all shards`, async () => {
      const users = [
        ...usersOn(0, 5, 5000 + keyShard * 100),
        ...usersOn(1, 5, 5000 + keyShard * 100),
      ];
      for (let round = 0; round < 3; round++) {
        const key = keyOn(keyShard, `race-${round}`);
        const answers = await Promise.all(
          users.map(async (user, i) => ({
            user,
            answer: await pay(i % 2 === 0 ? app : other, user, 700 + i, key),
          })),
        );
        const winners = answers.filter((a) => a.answer.status === 201);
        assert.equal(winners.length, 1, JSON.stringify(answers.map((a) => a.answer.status)));
        const winner = winners[0]!;
        // The payment answered is the one whose body the winner sent.
        assert.equal(winner.answer.body.user_id, winner.user);
        for (const { user, answer } of answers) {
          if (answer === winner.answer) continue;
          if (answer.status === 422)
            assert.equal(answer.body.code, 'IDEMPOTENCY_KEY_REUSED', `user ${user}`);
          else
            assert.deepEqual(
              [answer.status, answer.body.code],
              [409, 'IDEMPOTENCY_IN_PROGRESS'],
              `user ${user}`,
            );
        }
        const rows = await onShards<{ id: string; user_id: number }>(
          'SELECT id::text AS id, user_id::int AS user_id FROM payments WHERE idempotency_key = $1',
          [key],
        );
        const home = router.indexFor(winner.user);
        assert.deepEqual(rows[home], [{ id: winner.answer.body.id, user_id: winner.user }]);
        assert.deepEqual(rows[1 - home], []);
        const records = await onShards<{ payment_id: string }>(
          'SELECT payment_id::text AS payment_id FROM idempotency_keys WHERE key = $1',
          [key],
        );
        assert.deepEqual(records[keyShard], [{ payment_id: winner.answer.body.id }]);
        assert.deepEqual(records[1 - keyShard], []);
      }
    });
  }

  test('shard 1 cut: its users answer 503 DATABASE_UNAVAILABLE with Retry-After, shard 0 users are served, readiness names shard 1', async () => {
    const [a, b] = [usersOn(0, 1, 6000)[0]!, usersOn(1, 1, 6000)[0]!];
    const pa = await pay(app, a, 100);
    const pb = await pay(app, b, 100);
    assert.deepEqual([pa.status, pb.status], [201, 201]);
    await proxies[1]!.cut();
    try {
      const down: [string, Answer][] = [
        ['create', await pay(app, b, 200)],
        ['get', await call(app, 'GET', `/api/payments/${pb.body.id as string}`)],
        ['list', await call(app, 'GET', `/api/users/${b}/payments`)],
        ['summary', await call(app, 'GET', `/api/users/${b}/summary`)],
        ['latest of both', await call(app, 'GET', `/api/users/latest-payments?ids=${a},${b}`)],
        // The key's record lives on shard 1: a keyed create waits for it, whoever the user.
        ['keyed create of a shard 0 user', await pay(app, a, 300, keyOn(1, 'down-key'))],
      ];
      for (const [what, answer] of down) {
        assert.deepEqual(
          [answer.status, answer.body.code],
          [503, 'DATABASE_UNAVAILABLE'],
          `${what}: ${JSON.stringify(answer.body)}`,
        );
        assert.ok(Number(answer.headers['retry-after']) > 0, `${what}: Retry-After`);
      }
      const served: [string, Answer, number][] = [
        ['create', await pay(app, a, 200), 201],
        ['keyed create', await pay(app, a, 300, keyOn(0, 'up-key')), 201],
        ['get', await call(app, 'GET', `/api/payments/${pa.body.id as string}`), 200],
        ['list', await call(app, 'GET', `/api/users/${a}/payments`), 200],
        ['summary', await call(app, 'GET', `/api/users/${a}/summary`), 200],
        ['latest', await call(app, 'GET', `/api/users/latest-payments?ids=${a}`), 200],
      ];
      for (const [what, answer, status] of served)
        assert.equal(answer.status, status, `${what}: ${JSON.stringify(answer.body)}`);
      const ready = await call(app, 'GET', '/health/ready');
      assert.equal(ready.status, 200);
      assert.equal(ready.body.status, 'degraded');
      const checks = ready.body.checks as Record<string, string>;
      assert.equal(checks.database, 'ok');
      assert.equal(checks['database-shard-0'], 'ok');
      assert.match(checks['database-shard-1']!, /^degraded: /);
    } finally {
      await proxies[1]!.restore();
    }
    await waitReady();
    const again = await call(app, 'GET', `/api/users/${b}/payments`);
    assert.equal(again.status, 200);
  });

  test("a key recorded while its user's shard was cut is completed by the retry, under the recorded id, charged once", async () => {
    const b = usersOn(1, 1, 7000)[0]!;
    const key = keyOn(0, 'completed');
    await proxies[1]!.cut();
    let failed: Answer;
    try {
      failed = await pay(app, b, 900, key);
    } finally {
      await proxies[1]!.restore();
    }
    assert.deepEqual([failed.status, failed.body.code], [503, 'DATABASE_UNAVAILABLE']);
    const [records] = await onShards<{ payment_id: string }>(
      'SELECT payment_id::text AS payment_id FROM idempotency_keys WHERE key = $1',
      [key],
    );
    assert.equal(records!.length, 1, 'the record was written on the key shard');
    const recorded = records![0]!.payment_id;
    assert.equal(shardOfId(recorded), 1);
    const before = await onShards('SELECT 1 FROM payments WHERE id = $1', [recorded]);
    assert.deepEqual(before, [[], []], 'no payment yet, so nothing was charged');
    await waitReady();
    const retry = await pay(app, b, 900, key);
    assert.deepEqual(
      [retry.status, retry.body.id, retry.body.status],
      [201, recorded, 'authorized'],
    );
    const reused = await pay(app, b, 901, key);
    assert.deepEqual([reused.status, reused.body.code], [422, 'IDEMPOTENCY_KEY_REUSED']);
  });

  test('shard 1 frozen: shard 0 users are served, readiness times shard 1 out, its requests finish once it thaws', async () => {
    const [a, b] = [usersOn(0, 1, 8000)[0]!, usersOn(1, 1, 8000)[0]!];
    proxies[1]!.freeze();
    let waiting: Promise<Answer> | undefined;
    try {
      waiting = call(app, 'GET', `/api/users/${b}/payments`);
      const served = await pay(app, a, 100);
      assert.equal(served.status, 201);
      const list = await call(app, 'GET', `/api/users/${a}/payments`);
      assert.equal(list.status, 200);
      const ready = await call(app, 'GET', '/health/ready');
      assert.equal(ready.body.status, 'degraded');
      const checks = ready.body.checks as Record<string, string>;
      assert.equal(checks['database-shard-0'], 'ok');
      assert.match(
        checks['database-shard-1']!,
        /^degraded: .*(timed out after|no answer within) 1000 ms/,
      );
    } finally {
      await proxies[1]!.restore();
    }
    const late = await waiting;
    assert.equal(late.status, 200);
  });

  test('a reconciler sweep settles pending payments on both shards, and goes on with shard 0 while shard 1 is cut', async () => {
    const errors: unknown[] = [];
    const reconciler = new Reconciler({
      payments,
      gateway: client,
      leaseMs: 5000,
      backoffMs: 1,
      maxBackoffMs: 1,
      onError: (error) => errors.push(error),
    });
    try {
      const shardsOf = payments.shards;
      const pending = async (user: number) =>
        (await shardsOf
          .forUser(user)
          .insertPending(
            shardsOf.newId(user),
            { user_id: user, amount: 42, currency: 'EUR' },
            null,
            null,
            0,
          ))!;
      const [a, b] = [usersOn(0, 1, 9000)[0]!, usersOn(1, 1, 9000)[0]!];
      const both = [await pending(a), await pending(b)];
      const first = await reconciler.sweep();
      assert.ok(first.settled >= 2, JSON.stringify(first));
      const states = await onShards<{ id: string; status: string }>(
        'SELECT id::text AS id, status FROM payments WHERE id = ANY($1::uuid[])',
        [both.map((p) => p.id)],
      );
      assert.deepEqual(states, [
        [{ id: both[0]!.id, status: 'authorized' }],
        [{ id: both[1]!.id, status: 'authorized' }],
      ]);

      const onZero = await pending(a);
      const onOne = await pending(b);
      await proxies[1]!.cut();
      try {
        const partial = await reconciler.sweep();
        assert.equal(partial.settled, 1);
        assert.equal(errors.length, 1, 'the cut shard is reported');
      } finally {
        await proxies[1]!.restore();
      }
      await waitReady();
      const last = await reconciler.sweep();
      assert.equal(last.settled, 1);
      const after = await onShards<{ id: string; status: string }>(
        'SELECT id::text AS id, status FROM payments WHERE id = ANY($1::uuid[])',
        [[onZero.id, onOne.id]],
      );
      assert.deepEqual(after, [
        [{ id: onZero.id, status: 'authorized' }],
        [{ id: onOne.id, status: 'authorized' }],
      ]);
    } finally {
      await reconciler.close();
    }
  });

  test("every keyed payment on both shards has its key's record, on the key's shard, naming it", async () => {
    const payments = await onShards<{ id: string; key: string }>(
      'SELECT id::text AS id, idempotency_key AS key FROM payments WHERE idempotency_key IS NOT NULL',
    );
    const records = await onShards<{ key: string; payment_id: string }>(
      'SELECT key, payment_id::text AS payment_id FROM idempotency_keys',
    );
    const recorded = records.map((rows) => new Map(rows.map((r) => [r.key, r.payment_id])));
    let checked = 0;
    for (const rows of payments) {
      for (const { id, key } of rows) {
        assert.equal(recorded[router.indexFor(key)]!.get(key), id, `key ${key}`);
        assert.equal(recorded[1 - router.indexFor(key)]!.has(key), false, `key ${key}`);
        checked++;
      }
    }
    assert.ok(checked > 40, `${checked} keyed payments checked`);
  });

  test("the money invariant over both shards holds, and counts every shard's payments", async () => {
    const counts = await onShards<{ n: number }>('SELECT count(*)::int AS n FROM payments');
    const report = await checkInvariant({ db: direct, gatewayUrl: gateway.url });
    assert.equal(report.ok, true);
    assert.equal(report.totals.payments, counts[0]![0]!.n + counts[1]![0]!.n);
    assert.ok(counts[0]![0]!.n > 0 && counts[1]![0]!.n > 0);
    assert.equal(report.totals.pending, 0);
    assert.equal(report.totals.orphanCharges, 0);
  });

  test('npm run reconcile -- --database-shard-urls checks both shards and exits 0', async () => {
    const env = { ...process.env };
    for (const name of ['DATABASE_URL', 'DATABASE_SHARD_URLS', 'DATA_DIR', 'GATEWAY_URL'])
      delete env[name];
    const child = spawn(
      process.execPath,
      [
        '--conditions=source',
        '--import',
        'tsx',
        'scripts/reconcile.ts',
        '--database-shard-urls',
        created.map((c) => c.url).join(','),
        '--gateway-url',
        gateway.url,
        '--json',
      ],
      { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    const code = await new Promise((done) => child.once('close', done));
    assert.equal(code, 0, stdout);
    const report = JSON.parse(stdout) as { ok: boolean; totals: { payments: number } };
    const counts = await onShards<{ n: number }>('SELECT count(*)::int AS n FROM payments');
    assert.equal(report.ok, true);
    assert.equal(report.totals.payments, counts[0]![0]!.n + counts[1]![0]!.n);
  });

  test('/metrics labels queries and pool connections by shard', async () => {
    const text = (await app.inject({ method: 'GET', url: '/metrics' })).body;
    for (const shard of ['0', '1']) {
      for (const name of [
        'payments_db_queries_total',
        'payments_db_pool_in_use',
        'payments_db_pool_idle',
        'payments_db_pool_waiting',
      ]) {
        assert.match(
          text,
          new RegExp(`^${name}\\{[^}]*shard="${shard}"[^}]*\\} \\d+`, 'm'),
          `${name} shard ${shard}`,
        );
      }
      const queries = new RegExp(
        `^payments_db_queries_total\\{[^}]*shard="${shard}"[^}]*\\} (\\d+)`,
        'm',
      ).exec(text);
      assert.ok(Number(queries?.[1]) > 0, `shard ${shard} ran queries`);
    }
  });
});
