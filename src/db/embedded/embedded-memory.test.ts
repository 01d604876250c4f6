import assert from 'node:assert/strict';
import { mock, test } from 'node:test';
import { InvalidOptionError } from '../../errors/index.js';
import { type EmbeddedDatabase, startEmbedded } from './embedded-database.js';
import { EMBEDDED_MEMORY_SETTINGS } from './embedded-settings.js';

const walSegments = async (db: EmbeddedDatabase): Promise<number> =>
  (await db.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_ls_waldir()')).rows[0]!.n;

const checkpointLsn = async (db: EmbeddedDatabase): Promise<string> =>
  (
    await db.query<{ lsn: string }>(
      'SELECT checkpoint_lsn::text AS lsn FROM pg_control_checkpoint()',
    )
  ).rows[0]!.lsn;

// Some 8 MB of WAL: eight 1 MB segments or more until a checkpoint lets them go.
const writeWal = (db: EmbeddedDatabase): Promise<unknown> =>
  db.query("INSERT INTO filler SELECT i, repeat('x', 200) FROM generate_series(1, 30000) AS i");

test('a memory:// database has 1 MB WAL segments and the smallest min_wal_size and max_wal_size', async () => {
  const db = await startEmbedded({ dataDir: 'memory://' });
  try {
    const show = async (name: string): Promise<string> =>
      Object.values((await db.query(`SHOW ${name}`)).rows[0]!)[0] as string;
    assert.equal(await show('wal_segment_size'), '1MB');
    assert.equal(await show('min_wal_size'), EMBEDDED_MEMORY_SETTINGS.min_wal_size);
    assert.equal(await show('max_wal_size'), EMBEDDED_MEMORY_SETTINGS.max_wal_size);
    assert.equal(await show('wal_init_zero'), 'off');
  } finally {
    await db.close();
  }
});

test('a used engine checkpoints every checkpointIntervalMs, so a memory:// WAL keeps few segments', async () => {
  mock.timers.enable({ apis: ['setInterval'] });
  let db: EmbeddedDatabase | undefined;
  try {
    db = await startEmbedded({ dataDir: 'memory://', checkpointIntervalMs: 10_000 });
    await db.query('CREATE TABLE filler (id int, note text)');
    await writeWal(db);
    const before = await checkpointLsn(db);
    const segmentsBefore = await walSegments(db);
    assert.ok(segmentsBefore >= 6, `only ${segmentsBefore} WAL segments before the checkpoint`);
    mock.timers.tick(10_000);
    // The checkpoint is queued ahead of this query.
    const after = await checkpointLsn(db);
    assert.notEqual(after, before);
    const segmentsAfter = await walSegments(db);
    assert.ok(segmentsAfter <= 4, `${segmentsAfter} WAL segments after the checkpoint`);
  } finally {
    mock.timers.reset();
    await db?.close();
  }
});

test('with checkpointIntervalMs 0 the engine never checkpoints on its own', async () => {
  mock.timers.enable({ apis: ['setInterval'] });
  let db: EmbeddedDatabase | undefined;
  try {
    db = await startEmbedded({ dataDir: 'memory://', checkpointIntervalMs: 0 });
    await db.query('CREATE TABLE filler (id int, note text)');
    await writeWal(db);
    const before = await checkpointLsn(db);
    mock.timers.tick(3_600_000);
    assert.equal(await checkpointLsn(db), before);
  } finally {
    mock.timers.reset();
    await db?.close();
  }
});

test('a checkpointIntervalMs that is not a number of ms >= 0 is refused with HP_ERR_INVALID_OPTION', async () => {
  for (const checkpointIntervalMs of [-1, Number.NaN, Number.POSITIVE_INFINITY]) {
    await assert.rejects(
      startEmbedded({ dataDir: 'memory://', checkpointIntervalMs }),
      (error: unknown) =>
        error instanceof InvalidOptionError && error.option === 'checkpointIntervalMs',
    );
  }
});

test('the PGlite worker has a young generation of at most 6 MB unless workerResourceLimits says otherwise', async () => {
  const db = await startEmbedded({ dataDir: 'memory://' });
  const roomy = await startEmbedded({
    dataDir: 'memory://',
    workerResourceLimits: { maxYoungGenerationSizeMb: 48 },
  });
  try {
    // Results of 2000 rows, many times: the allocation rate that grows V8's young generation.
    for (let i = 0; i < 15; i++) {
      await db.query('SELECT i, md5(i::text) AS h FROM generate_series(1, 2000) AS i');
      await roomy.query('SELECT i, md5(i::text) AS h FROM generate_series(1, 2000) AS i');
    }
    const usage = await db.memoryUsage();
    assert.ok(usage.newSpaceBytes <= 6 * 1024 * 1024, `new space ${usage.newSpaceBytes} bytes`);
    assert.ok(usage.wasmBytes > 0 && usage.heapUsedBytes > 0 && usage.heapTotalBytes > 0);
    const roomyUsage = await roomy.memoryUsage();
    assert.ok(
      roomyUsage.newSpaceBytes > usage.newSpaceBytes,
      `new space ${roomyUsage.newSpaceBytes} bytes with a 48 MB limit`,
    );
  } finally {
    await db.close();
    await roomy.close();
  }
  await assert.rejects(db.memoryUsage(), { code: 'HP_ERR_CLOSED' });
});
