import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { describe, test } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import { fastifyLoadShedder, LoadShedder, type LoopSample, type LoopSampler } from './index.js';

class FakeSampler implements LoopSampler {
  next: LoopSample = { delayMs: 0, utilization: 0.1 };
  sample(): LoopSample {
    return this.next;
  }
  close(): void {}
}

/** A shedder on a hand-set sampler; `overload(delayMs)` applies one sample. */
function fakeShedder(random: () => number = () => 0.5) {
  const sampler = new FakeSampler();
  let now = 0;
  const shedder = new LoadShedder({
    delayThresholdMs: 50,
    sampler,
    random,
    clock: { now: () => now },
    gain: 1e-9, // the proportional floor alone: level = delay / 50 - 1
    // Only update() moves it: the timer never fires during a test.
    sampleIntervalMs: 1e6,
    windowMs: 1e6,
  });
  const overload = (delayMs: number) => {
    sampler.next = { delayMs, utilization: 0.5 };
    now += 100;
    shedder.update();
  };
  return { shedder, overload };
}

async function buildApp(shedder: LoadShedder): Promise<FastifyInstance> {
  const app = Fastify();
  await app.register(fastifyLoadShedder, { shedder });
  app.get('/health/live', async () => ({ ok: true }));
  app.get('/metrics', async () => 'metrics');
  app.get('/api/work', async () => ({ done: true }));
  app.get('/api/report', { config: { priority: 'low' } }, async () => ({ report: true }));
  app.post('/api/payments', { config: { priority: 'critical' } }, async () => ({ paid: true }));
  return app;
}

/** Blocks this thread's event loop for `ms` (the point of the test). */
function blockLoop(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end);
}

describe('fastifyLoadShedder', () => {
  test('answers 503 OVERLOADED with Retry-After while overloaded; health and metrics still answer', async () => {
    const { shedder, overload } = fakeShedder();
    const app = await buildApp(shedder);
    assert.equal((await app.inject('/api/work')).statusCode, 200);
    overload(100);
    const shed = await app.inject('/api/work');
    assert.equal(shed.statusCode, 503);
    assert.equal(shed.headers['retry-after'], '1');
    assert.match(String(shed.headers['content-type']), /^application\/json/);
    assert.deepEqual(shed.json(), {
      code: 'OVERLOADED',
      message: 'The server is overloaded; retry later.',
    });
    assert.equal((await app.inject('/health/live')).statusCode, 200);
    assert.equal((await app.inject('/metrics')).statusCode, 200);
    assert.equal((await app.inject({ method: 'POST', url: '/api/payments' })).statusCode, 503);
    await app.close();
    await shedder.close();
  });

  test('at moderate overload a low-priority route is shed and a critical one is served', async () => {
    let i = 0;
    const { shedder, overload } = fakeShedder(() => (i++ % 10) / 10 + 0.05);
    const app = await buildApp(shedder);
    overload(65); // level 0.3: low always, normal 1 in 5, critical never
    const statuses = async (method: 'GET' | 'POST', url: string) => {
      const codes: number[] = [];
      for (let r = 0; r < 20; r++) codes.push((await app.inject({ method, url })).statusCode);
      return codes;
    };
    assert.deepEqual(new Set(await statuses('GET', '/api/report')), new Set([503]));
    assert.deepEqual(new Set(await statuses('POST', '/api/payments')), new Set([200]));
    const normal = await statuses('GET', '/api/work');
    assert.equal(normal.filter((c) => c === 503).length, 4);
    assert.deepEqual(shedder.stats().shed, { critical: 0, high: 0, normal: 4, low: 20 });
    await app.close();
    await shedder.close();
  });

  test('neverShed takes paths or a predicate; defaultPriority applies to routes without one', async () => {
    const { shedder, overload } = fakeShedder();
    const app = Fastify();
    await app.register(fastifyLoadShedder, {
      shedder,
      neverShed: (route) => route.url.startsWith('/internal'),
      defaultPriority: 'critical',
    });
    app.get('/internal/status', async () => 'up');
    app.get('/health', async () => 'up');
    app.get('/api/work', async () => 'done');
    await app.ready();
    overload(65);
    assert.equal((await app.inject('/internal/status')).statusCode, 200);
    assert.equal((await app.inject('/api/work')).statusCode, 200, 'critical at level 0.3');
    overload(100);
    assert.equal((await app.inject('/internal/status')).statusCode, 200);
    assert.equal((await app.inject('/health')).statusCode, 503, 'the predicate replaced the list');
    await app.close();
    await shedder.close();
  });

  test('a route with an unknown priority fails its declaration', async () => {
    const { shedder } = fakeShedder();
    const app = Fastify();
    await app.register(fastifyLoadShedder, { shedder });
    assert.throws(
      () => app.get('/x', { config: { priority: 'urgent' as never } }, async () => 'x'),
      { code: 'HP_ERR_INVALID_OPTION' },
    );
    await app.close();
    await shedder.close();
  });

  test('bad plugin options fail registration with HP_ERR_INVALID_OPTION', async () => {
    for (const options of [
      { defaultPriority: 'urgent' as never },
      { neverShed: ['health'] },
      { retryAfterSeconds: 1.5 },
      { shedder: {} as never },
    ]) {
      const app = Fastify();
      await assert.rejects(
        async () => {
          await app.register(fastifyLoadShedder, options);
          await app.ready();
        },
        { code: 'HP_ERR_INVALID_OPTION' },
      );
    }
  });

  test('a plugin-made shedder is closed with the app', async () => {
    const app = Fastify();
    await app.register(fastifyLoadShedder, { delayThresholdMs: 100 });
    app.get('/', async () => 'ok');
    assert.equal((await app.inject('/')).statusCode, 200);
    await app.close();
  });

  test('after the event loop is really blocked for 300 ms, the next requests are shed and /health is not', async () => {
    const shedder = new LoadShedder({ delayThresholdMs: 100, sampleIntervalMs: 50 });
    const app = await buildApp(shedder);
    await app.listen({ host: '127.0.0.1', port: 0 });
    const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    try {
      assert.equal((await fetch(`${base}/health/live`)).status, 200);
      blockLoop(300);
      const [work, report, health] = await Promise.all([
        fetch(`${base}/api/work`),
        fetch(`${base}/api/report`),
        fetch(`${base}/health/live`),
      ]);
      assert.equal(work.status, 503);
      assert.equal(work.headers.get('retry-after'), '1');
      assert.deepEqual(((await work.json()) as { code: string }).code, 'OVERLOADED');
      assert.equal(report.status, 503);
      assert.equal(health.status, 200);
      await report.arrayBuffer();
      await health.arrayBuffer();
      const stats = shedder.stats();
      assert.ok(stats.delayMs >= 200, `longest stall seen ${stats.delayMs} ms`);
      assert.ok(stats.shed.normal >= 1 && stats.shed.low >= 1);
    } finally {
      await app.close();
      await shedder.close();
    }
  });
});
