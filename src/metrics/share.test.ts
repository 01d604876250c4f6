import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { collectFromWorker, MetricsRegistry } from './index.js';

test('one scrape of the parent covers its worker threads, histograms merged', async () => {
  const registry = new MetricsRegistry();
  registry.counter({ name: 'jobs_total', help: 'jobs' }).inc(1);
  registry
    .histogram({ name: 'job_seconds', help: 'job time', scale: 1e-6, buckets: [0.0015, 0.005] })
    .record(1000);
  // Each worker records 10 jobs of 2 ms and shares its registry; on exit the parent forgets it.
  const code = `
    const { parentPort } = require('node:worker_threads');
    // Node 20 workers do not inherit --import tsx: load the sources through tsx's API.
    import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))})
      .then((tsx) => tsx.tsImport(${JSON.stringify(new URL('./index.ts', import.meta.url).href)}, ${JSON.stringify(import.meta.url)}))
      .then(async ({ MetricsRegistry, shareWithParent }) => {
      const r = new MetricsRegistry();
      r.counter({ name: 'jobs_total', help: 'jobs' }).inc(10);
      const h = r.histogram({ name: 'job_seconds', help: 'job time', scale: 1e-6, buckets: [0.0015, 0.005] });
      for (let i = 0; i < 10; i++) h.record(2000);
      shareWithParent(r, { intervalMs: 60000 });
      parentPort.once('message', () => process.exit(0));
    });
  `;
  const workers = [0, 1].map(() => new Worker(code, { eval: true, env: process.env }));
  const arrived = workers.map(
    (w) =>
      new Promise<void>((done) => {
        collectFromWorker(registry, w);
        w.on('message', () => done());
      }),
  );
  await Promise.all(arrived);
  assert.equal(registry.remotes.length, 2);
  const text = await registry.metrics();
  assert.match(text, /^jobs_total 21$/m);
  assert.match(text, /^job_seconds_count 21$/m);
  assert.match(text, /^job_seconds_bucket\{le="0.0015"\} 1$/m);
  assert.match(text, /^job_seconds_bucket\{le="0.005"\} 21$/m);
  assert.ok(Math.abs(Number(/^job_seconds_sum (\S+)$/m.exec(text)![1]) - 0.041) < 1e-12);
  await Promise.all(
    workers.map(
      (w) =>
        new Promise<void>((done) => {
          w.once('exit', () => setImmediate(done));
          w.postMessage('stop');
        }),
    ),
  );
  assert.equal(registry.remotes.length, 0, 'exited workers are forgotten');
  assert.match(await registry.metrics(), /^jobs_total 1$/m);
});
