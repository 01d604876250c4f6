import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { migrate, startEmbedded } from 'hotpath/db';
import { buildTestApp } from '../helpers/app.js';
import { ConfigError, loadConfig } from '../../service/config.js';
import { migrations } from '../../service/migrations/index.js';

const gateway = {
  charge: () => Promise.resolve({ status: 'authorized' as const, reference: 'ch_x' }),
};

/** N+1 reports counted on /metrics after one naive latest-payments request for 6 users. */
async function reportsAfterNaiveRequest(nPlusOneDetector: 'on' | 'off'): Promise<number> {
  const db = await startEmbedded({ dataDir: 'memory://' });
  await migrate(db, migrations);
  await db.query(
    `INSERT INTO payments (id, user_id, amount, currency, status, created_at)
     SELECT gen_random_uuid(), 1 + g % 6, 100, 'EUR', 'authorized', now()
     FROM generate_series(1, 12) AS g`,
  );
  const app = await buildTestApp({ nPlusOne: 'naive', nPlusOneDetector }, { db, gateway });
  try {
    const res = await app.inject({ url: '/api/users/latest-payments?ids=1,2,3,4,5,6' });
    assert.equal(res.statusCode, 200, res.body);
    const metrics = await app.inject({ url: '/metrics' });
    const line = /^payments_db_n_plus_one_total (\d+)$/m.exec(metrics.body);
    assert.ok(line !== null, 'payments_db_n_plus_one_total missing from /metrics');
    return Number(line[1]);
  } finally {
    await app.close();
    await db.close();
  }
}

describe('N_PLUS_ONE_DETECTOR', () => {
  test('auto is on without NODE_ENV and off with NODE_ENV=production', () => {
    assert.equal(loadConfig({}).nPlusOneDetector, 'on');
    assert.equal(loadConfig({ NODE_ENV: 'development' }).nPlusOneDetector, 'on');
    assert.equal(loadConfig({ NODE_ENV: 'production' }).nPlusOneDetector, 'off');
  });

  test('on and off win over NODE_ENV, as a variable or a flag', () => {
    assert.equal(
      loadConfig({ NODE_ENV: 'production', N_PLUS_ONE_DETECTOR: 'on' }).nPlusOneDetector,
      'on',
    );
    assert.equal(loadConfig({}, ['--n-plus-one-detector', 'off']).nPlusOneDetector, 'off');
  });

  test('a bad value is a ConfigError naming the variable', () => {
    assert.throws(
      () => loadConfig({ N_PLUS_ONE_DETECTOR: 'yes' }),
      (error: unknown) => error instanceof ConfigError && /N_PLUS_ONE_DETECTOR/.test(String(error)),
    );
  });

  test('on: a request that runs one query per user is reported as N+1', async () => {
    assert.equal(await reportsAfterNaiveRequest('on'), 1);
  });

  test('off: the same request is served and nothing is reported', async () => {
    assert.equal(await reportsAfterNaiveRequest('off'), 0);
  });
});
