import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { InvalidOptionError } from '../../errors/index.js';
import { EMBEDDED_DEFAULT_SETTINGS, startEmbedded } from './embedded-database.js';

test('the embedded engine starts with shared_buffers at 16MB unless settings say otherwise', async () => {
  assert.equal(EMBEDDED_DEFAULT_SETTINGS.shared_buffers, '16MB');
  const db = await startEmbedded({ dataDir: 'memory://' });
  try {
    const { rows } = await db.query<{ shared_buffers: string }>('SHOW shared_buffers');
    assert.equal(rows[0]!.shared_buffers, '16MB');
  } finally {
    await db.close();
  }
  const tuned = await startEmbedded({
    dataDir: 'memory://',
    settings: { shared_buffers: '32MB', work_mem: '2MB' },
  });
  try {
    const sb = await tuned.query<{ shared_buffers: string }>('SHOW shared_buffers');
    const wm = await tuned.query<{ work_mem: string }>('SHOW work_mem');
    assert.equal(sb.rows[0]!.shared_buffers, '32MB');
    assert.equal(wm.rows[0]!.work_mem, '2MB');
  } finally {
    await tuned.close();
  }
});

test('a setting that is not one word is refused with HP_ERR_INVALID_OPTION naming settings', async () => {
  await assert.rejects(
    startEmbedded({ dataDir: 'memory://', settings: { 'shared_buffers=1GB -c x': '1' } }),
    (error: unknown) => error instanceof InvalidOptionError && /settings/.test(String(error)),
  );
  await assert.rejects(
    startEmbedded({ dataDir: 'memory://', settings: { work_mem: '4MB -c fsync=off' } }),
    (error: unknown) => error instanceof InvalidOptionError,
  );
});

test('a new data directory is initialised before the engine starts, and its data survives a restart', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hotpath-embedded-init-'));
  const dataDir = join(dir, 'data');
  const progress: string[] = [];
  try {
    const first = await startEmbedded({ dataDir, onProgress: (m) => progress.push(m) });
    await first.query('CREATE TABLE kept (id int)');
    await first.query('INSERT INTO kept VALUES (7)');
    await first.close();
    assert.ok(existsSync(join(dataDir, 'PG_VERSION')));
    assert.ok(progress.some((m) => m.startsWith('initialising a new embedded database')));
    const lines = progress.length;
    const second = await startEmbedded({ dataDir, onProgress: (m) => progress.push(m) });
    try {
      const { rows } = await second.query<{ id: number }>('SELECT id FROM kept');
      assert.deepEqual(rows, [{ id: 7 }]);
      assert.ok(!progress.slice(lines).some((m) => m.startsWith('initialising')));
    } finally {
      await second.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a memory:// database is initialised in a child process and loaded empty, with its settings, apart from any other', async () => {
  const progress: string[] = [];
  const a = await startEmbedded({
    dataDir: 'memory://',
    settings: { work_mem: '3MB' },
    onProgress: (m) => progress.push(m),
  });
  const b = await startEmbedded({ dataDir: 'memory://' });
  try {
    assert.ok(
      progress.some((m) => m.startsWith('initialising a new embedded database in memory://')),
    );
    const tables = await a.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'public'",
    );
    assert.equal(tables.rows[0]!.n, 0);
    const wm = await a.query<{ work_mem: string }>('SHOW work_mem');
    assert.equal(wm.rows[0]!.work_mem, '3MB');
    await a.query('CREATE TABLE only_in_a (id int)');
    await a.query('INSERT INTO only_in_a VALUES (1)');
    assert.deepEqual((await a.query('SELECT id FROM only_in_a')).rows, [{ id: 1 }]);
    await assert.rejects(b.query('SELECT id FROM only_in_a'), /only_in_a/);
  } finally {
    await a.close();
    await b.close();
  }
});
