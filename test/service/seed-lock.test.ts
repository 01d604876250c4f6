/**
 * `npm run seed` on the DATA_DIR of a running service refuses at once, naming the lock,
 * and leaves the service's data as it was.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { migrate, startEmbedded } from 'hotpath/db';
import { migrations } from '../../service/migrations/index.js';

const root = resolve(import.meta.dirname, '..', '..');

describe('seeding a data directory another process holds', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'hotpath-seed-lock-'));
  });
  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  test('the seed exits 2 naming the lock and the pid; the holder keeps its rows', async () => {
    const service = await startEmbedded({ dataDir: dir });
    try {
      await migrate(service, migrations);
      const before = await service.query<{ n: number }>('SELECT count(*)::int AS n FROM payments');
      const seed = spawnSync(
        process.execPath,
        [
          '--conditions=source',
          '--import',
          'tsx',
          'service/seed.ts',
          '--data-dir',
          dir,
          '--users',
          '10',
          '--payments',
          '100',
        ],
        { cwd: root, encoding: 'utf8', env: { ...process.env, DATABASE_URL: '' } },
      );
      assert.equal(seed.status, 2, seed.stderr);
      assert.ok(seed.stderr.includes(join(dir, 'hotpath.lock')), seed.stderr);
      assert.ok(seed.stderr.includes(`process ${process.pid}`), seed.stderr);
      assert.doesNotMatch(seed.stdout, /payments for/);
      const afterSeed = await service.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM payments',
      );
      assert.deepEqual(afterSeed.rows, before.rows);
    } finally {
      await service.close();
    }
  });
});
