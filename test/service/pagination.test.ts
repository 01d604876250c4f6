import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { migrate, startEmbedded, type Database } from 'hotpath/db';
import { buildTestApp } from '../helpers/app.js';
import { ConfigError, loadConfig } from '../../service/config.js';
import { migrations } from '../../service/migrations/index.js';

const gateway = {
  charge: () => Promise.resolve({ status: 'authorized' as const, reference: 'ch_test' }),
};

describe('PAGINATION=offset and keyset', () => {
  let db: Database;
  let keyset: FastifyInstance;
  let offset: FastifyInstance;
  before(async () => {
    db = await startEmbedded({ dataDir: 'memory://' });
    await migrate(db, migrations);
    // 45 payments of user 7 (and some of user 8), ids in creation order.
    await db.query(
      `INSERT INTO payments (id, user_id, amount, currency, status, created_at)
       SELECT ('00000000-0000-7000-8000-' || lpad(g::text, 12, '0'))::uuid, 7 + (g % 3 = 0)::int,
              g, 'EUR', 'authorized', now()
       FROM generate_series(1, 60) AS g`,
    );
    const config = { cache: 'off' as const };
    keyset = await buildTestApp({ ...config, pagination: 'keyset' }, { db, gateway });
    offset = await buildTestApp({ ...config, pagination: 'offset' }, { db, gateway });
  });
  after(async () => {
    await keyset.close();
    await offset.close();
    await db.close();
  });

  const walk = async (app: FastifyInstance): Promise<number[]> => {
    const amounts: number[] = [];
    let cursor: string | null = null;
    for (let page = 0; page < 20; page++) {
      const res: { statusCode: number; json(): unknown } = await app.inject({
        method: 'GET',
        url: `/api/users/7/payments?limit=7${cursor === null ? '' : `&cursor=${cursor}`}`,
      });
      assert.equal(res.statusCode, 200);
      const body = res.json() as { items: { amount: number }[]; next_cursor: string | null };
      amounts.push(...body.items.map((i) => i.amount));
      cursor = body.next_cursor;
      if (cursor === null) break;
    }
    return amounts;
  };

  test('offset and keyset pages walk the same payments, newest first', async () => {
    const expected = Array.from({ length: 60 }, (_, i) => 60 - i).filter((g) => g % 3 !== 0);
    assert.deepEqual(await walk(keyset), expected);
    assert.deepEqual(await walk(offset), expected);
  });

  test('a cursor of the other kind is 400 INVALID_CURSOR on each', async () => {
    const first = async (app: FastifyInstance) =>
      (
        (await app.inject({ method: 'GET', url: '/api/users/7/payments?limit=2' })).json() as {
          next_cursor: string;
        }
      ).next_cursor;
    const fromKeyset = await first(keyset);
    const fromOffset = await first(offset);
    for (const [app, cursor] of [
      [offset, fromKeyset],
      [keyset, fromOffset],
    ] as const) {
      const res = await app.inject({
        method: 'GET',
        url: `/api/users/7/payments?limit=2&cursor=${cursor}`,
      });
      assert.equal(res.statusCode, 400);
      assert.equal((res.json() as { code: string }).code, 'INVALID_CURSOR');
    }
  });

  test('payments_db_queries_total counts one statement per uncached page', async () => {
    const count = async () => {
      const text = (await offset.inject({ method: 'GET', url: '/metrics' })).body;
      return Number(/^payments_db_queries_total (\d+)/m.exec(text)?.[1]);
    };
    const before = await count();
    for (let i = 0; i < 5; i++) {
      await offset.inject({ method: 'GET', url: '/api/users/7/payments?limit=3' });
    }
    assert.equal((await count()) - before, 5);
  });

  test('PAGINATION accepts keyset or offset and names itself on anything else', () => {
    assert.equal(loadConfig({}).pagination, 'keyset');
    assert.equal(loadConfig({ PAGINATION: 'offset' }).pagination, 'offset');
    assert.throws(
      () => loadConfig({ PAGINATION: 'sideways' }),
      (error: unknown) => error instanceof ConfigError && error.variable === 'PAGINATION',
    );
  });
});
