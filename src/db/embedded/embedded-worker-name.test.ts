import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Profiler, listWorkers } from 'hotpath/profile';
import { EmbeddedDatabase, startEmbedded } from './embedded-database.js';

test('the embedded database runs PGlite in a worker thread named hotpath-pglite', async () => {
  const db = await startEmbedded({ dataDir: 'memory://' });
  try {
    assert.equal(EmbeddedDatabase.workerName, 'hotpath-pglite');
    assert.ok((await listWorkers()).includes('hotpath-pglite'), 'no worker named hotpath-pglite');
  } finally {
    await db.close();
  }
});

test('a CPU profile by the worker name samples the PGlite thread', async () => {
  const db = await startEmbedded({ dataDir: 'memory://' });
  try {
    let querying = true;
    const load = (async () => {
      while (querying) await db.query('SELECT sum(i) FROM generate_series(1, 20000) AS i');
    })();
    const profile = await new Profiler().cpuProfile({
      seconds: 0.5,
      worker: EmbeddedDatabase.workerName,
    });
    querying = false;
    await load;
    const urls = new Set(profile.nodes.map((node) => node.callFrame.url));
    assert.ok(
      [...urls].some((url) => url.includes('pglite')),
      `no PGlite frame in the profile: ${[...urls].join(', ')}`,
    );
  } finally {
    await db.close();
  }
});
