import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { connectPostgres, createPool } from 'hotpath/db';
import { createTestDatabase, postgresForTests } from '../helpers/services.js';

const server = await postgresForTests();

interface Closable {
  query: (sql: string) => Promise<unknown>;
  close: () => Promise<void>;
}

/**
 * Opens connections, closes the pool, counts the server's connections to the database right
 * after, then drops it at once: a connection still closing would be terminated by the server
 * and raise an error nobody listens to. Returns the count and the uncaught errors seen.
 */
async function closeThenDrop(
  open: (url: string) => Promise<Closable>,
): Promise<{ stillConnected: number; uncaught: unknown[] }> {
  const db = await createTestDatabase(server.url);
  const name = new URL(db.url).pathname.slice(1);
  const admin = new pg.Client({ connectionString: server.url });
  await admin.connect();
  const uncaught: unknown[] = [];
  const record = (error: unknown): void => {
    uncaught.push(error);
  };
  process.on('uncaughtException', record);
  try {
    const pool = await open(db.url);
    // Several connections open at once, all idle when close() is called.
    await Promise.all(Array.from({ length: 4 }, () => pool.query('SELECT pg_sleep(0.02)')));
    await pool.close();
    const { rows } = await admin.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1',
      [name],
    );
    await admin.query(`DROP DATABASE ${name} WITH (FORCE)`);
    // Give a late error from a connection still closing the time to surface.
    await sleep(200);
    return { stillConnected: rows[0]!.n, uncaught };
  } finally {
    process.off('uncaughtException', record);
    await admin.end();
    await db.drop();
  }
}

describe('closing a pool', { skip: server.skip }, () => {
  test('createPool: close() resolves once the connections are closed', async () => {
    for (let i = 0; i < 3; i++) {
      const result = await closeThenDrop((url) => createPool({ connectionString: url, max: 4 }));
      assert.deepEqual(result, { stillConnected: 0, uncaught: [] });
    }
  });

  test('connectPostgres: close() resolves once the connections are closed', async () => {
    for (let i = 0; i < 3; i++) {
      const result = await closeThenDrop((url) => connectPostgres(url, { max: 4 }));
      assert.deepEqual(result, { stillConnected: 0, uncaught: [] });
    }
  });
});
