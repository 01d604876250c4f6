import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { startEmbedded } from 'hotpath/db';
import { buildTestApp } from '../helpers/app.js';

const gateway = {
  charge: () => Promise.resolve({ status: 'authorized' as const, reference: 'ch_x' }),
};
const config = {};

describe('readiness', () => {
  test('200 degraded naming Redis when a configured Redis does not answer, ready once it does', async () => {
    const db = await startEmbedded({ dataDir: 'memory://' });
    let up = false;
    const redis = {
      ping: () => (up ? Promise.resolve('PONG') : Promise.reject(new Error('connection refused'))),
    };
    const app = await buildTestApp(config, { db, gateway, redis });
    try {
      const down = await app.inject({ method: 'GET', url: '/health/ready' });
      assert.equal(down.statusCode, 200);
      assert.deepEqual(down.json(), {
        status: 'degraded',
        checks: { database: 'ok', redis: 'degraded: connection refused' },
      });
      up = true;
      const ready = await app.inject({ method: 'GET', url: '/health/ready' });
      assert.equal(ready.statusCode, 200);
      assert.deepEqual(ready.json(), { status: 'ready', checks: { database: 'ok', redis: 'ok' } });
    } finally {
      await app.close();
      await db.close();
    }
  });

  test('503 naming the database when it is gone; liveness stays 200', async () => {
    const db = await startEmbedded({ dataDir: 'memory://' });
    const app = await buildTestApp(config, { db, gateway });
    try {
      await db.close();
      const res = await app.inject({ method: 'GET', url: '/health/ready' });
      assert.equal(res.statusCode, 503);
      assert.match(res.json().message, /^database is down/);
      const live = await app.inject({ method: 'GET', url: '/health/live' });
      assert.equal(live.statusCode, 200);
    } finally {
      await app.close();
    }
  });

  test('503 while draining', async () => {
    const db = await startEmbedded({ dataDir: 'memory://' });
    const app = await buildTestApp(config, { db, gateway });
    try {
      app.draining = true;
      const res = await app.inject({ method: 'GET', url: '/health/ready' });
      assert.equal(res.statusCode, 503);
      assert.match(res.json().message, /shutting down/);
    } finally {
      await app.close();
      await db.close();
    }
  });
});
