import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import Fastify from 'fastify';
import { BatchLoader, NPlusOneDetector, createPool, type InstrumentedPool } from 'hotpath/db';
import type { NPlusOneReport } from 'hotpath/db';
import { createTestDatabase, postgresForTests } from '../helpers/services.js';

const server = await postgresForTests();

describe('N+1 detection in a Fastify service', { skip: server.skip }, () => {
  let db: { url: string; drop: () => Promise<void> };
  let pool: InstrumentedPool;
  const reports: NPlusOneReport[] = [];
  const detector = new NPlusOneDetector({ threshold: 5, onDetect: (r) => reports.push(r) });

  before(async () => {
    db = await createTestDatabase(server.url);
    pool = await createPool({ connectionString: db.url, max: 4, nPlusOne: detector });
    await pool.query('CREATE TABLE users (id int PRIMARY KEY)');
    await pool.query('CREATE TABLE payments (id serial PRIMARY KEY, user_id int, amount int)');
    await pool.query('INSERT INTO users SELECT generate_series(1, 10)');
    await pool.query(
      'INSERT INTO payments (user_id, amount) SELECT 1 + g % 10, g FROM generate_series(1, 100) g',
    );
  });
  after(async () => {
    await pool?.close();
    await db?.drop();
  });

  function buildApp() {
    const app = Fastify();
    // one request = one detector scope; the route's queries, however deep, count together
    app.addHook('onRequest', (request, _reply, done) => {
      detector.run(`${request.method} ${request.routeOptions.url ?? request.url}`, done);
    });
    app.get('/naive/users', async () => {
      const { rows: users } = await pool.query<{ id: number }>('SELECT id FROM users ORDER BY id');
      return Promise.all(
        users.map(async (u) => ({
          id: u.id,
          total: (
            await pool.query('SELECT sum(amount)::int AS t FROM payments WHERE user_id = $1', [
              u.id,
            ])
          ).rows[0]!.t,
        })),
      );
    });
    app.get('/batched/users', async () => {
      const totals = new BatchLoader<number, number>({
        batch: async (ids) => {
          const { rows } = await pool.query<{ user_id: number; t: number }>(
            'SELECT user_id, sum(amount)::int AS t FROM payments WHERE user_id = ANY($1) GROUP BY user_id',
            [ids],
          );
          return new Map(rows.map((r) => [r.user_id, r.t]));
        },
      });
      const { rows: users } = await pool.query<{ id: number }>('SELECT id FROM users ORDER BY id');
      return Promise.all(users.map(async (u) => ({ id: u.id, total: await totals.load(u.id) })));
    });
    return app;
  }

  test('reports the naive route with its route pattern, and not the batched one', async () => {
    const app = buildApp();
    try {
      const naive = await app.inject('/naive/users');
      const batched = await app.inject('/batched/users');
      assert.equal(naive.statusCode, 200);
      assert.deepEqual(naive.json(), batched.json(), 'both paths answer the same');
      assert.equal(reports.length, 1);
      assert.equal(reports[0]!.route, 'GET /naive/users');
      assert.equal(
        reports[0]!.fingerprint,
        'select sum(amount)::int as t from payments where user_id = $1',
      );
      assert.equal(reports[0]!.count, 5);
      assert.match(reports[0]!.callSite ?? '', /db-n-plus-one-fastify\.test\.ts/);
      // a second naive request is a new scope: reported again
      await app.inject('/naive/users');
      assert.equal(reports.length, 2);
    } finally {
      await app.close();
    }
  });
});
