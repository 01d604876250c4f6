import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import Fastify from 'fastify';
import {
  ConcurrencyLimiter,
  fastifyConcurrencyLimit,
  type LimitAlgorithm,
  type LimitSample,
} from './index.js';

class FixedLimit implements LimitAlgorithm {
  samples: LimitSample[] = [];
  constructor(public limit: number) {}
  update(sample: LimitSample): void {
    this.samples.push(sample);
  }
}

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

describe('fastifyConcurrencyLimit', () => {
  test('answers 503 OVERLOADED with Retry-After past the route limit; the slot frees when the response ends', async () => {
    const algorithms: FixedLimit[] = [];
    const app = Fastify();
    await app.register(fastifyConcurrencyLimit, {
      createLimiter: () => {
        const algorithm = new FixedLimit(1);
        algorithms.push(algorithm);
        return new ConcurrencyLimiter({ algorithm });
      },
    });
    let gate = deferred();
    app.get('/api/slow', async () => {
      await gate.promise;
      return { ok: true };
    });
    app.get('/api/other', async () => ({ ok: true }));
    app.get('/health/live', async () => ({ ok: true }));
    await app.ready();
    assert.equal(algorithms.length, 2, 'one limiter per route, none for /health');

    const first = app.inject('/api/slow');
    await new Promise((r) => setImmediate(r));
    const refused = await app.inject('/api/slow');
    assert.equal(refused.statusCode, 503);
    assert.equal(refused.headers['retry-after'], '1');
    assert.equal(refused.json().code, 'OVERLOADED');
    assert.equal((await app.inject('/api/other')).statusCode, 200, 'other routes have their own');
    gate.resolve();
    assert.equal((await first).statusCode, 200);
    gate = deferred();
    gate.resolve();
    assert.equal((await app.inject('/api/slow')).statusCode, 200);
    assert.equal(algorithms[0]!.samples.length, 2, 'latency of both served requests');
    await app.close();
  });

  test('with maxQueue, a request waits briefly for a slot instead of being refused', async () => {
    const app = Fastify();
    await app.register(fastifyConcurrencyLimit, {
      createLimiter: () =>
        new ConcurrencyLimiter({
          algorithm: new FixedLimit(1),
          maxQueue: 1,
          queueTimeoutMs: 10_000,
        }),
    });
    const gate = deferred();
    app.get('/api/slow', async () => {
      await gate.promise;
      return 'done';
    });
    const first = app.inject('/api/slow');
    const second = app.inject('/api/slow');
    await new Promise((r) => setImmediate(r));
    const third = await app.inject('/api/slow');
    assert.equal(third.statusCode, 503);
    gate.resolve();
    assert.deepEqual([(await first).statusCode, (await second).statusCode], [200, 200]);
    await app.close();
  });

  test('config.concurrencyLimit: false opts a route out; a shared limiter caps routes together', async () => {
    const shared = new ConcurrencyLimiter({ algorithm: new FixedLimit(1) });
    const app = Fastify();
    await app.register(fastifyConcurrencyLimit);
    const gate = deferred();
    const slow = async () => {
      await gate.promise;
      return 'x';
    };
    app.get('/a', { config: { concurrencyLimit: shared } }, slow);
    app.get('/b', { config: { concurrencyLimit: shared } }, slow);
    app.get('/free', { config: { concurrencyLimit: false } }, async () => 'free');
    const a = app.inject('/a');
    await new Promise((r) => setImmediate(r));
    assert.equal((await app.inject('/b')).statusCode, 503);
    assert.equal((await app.inject('/free')).statusCode, 200);
    gate.resolve();
    assert.equal((await a).statusCode, 200);
    await app.close();
  });

  test('5xx responses teach the limit nothing', async () => {
    const algorithm = new FixedLimit(5);
    const app = Fastify();
    await app.register(fastifyConcurrencyLimit, {
      createLimiter: () => new ConcurrencyLimiter({ algorithm }),
    });
    app.get('/fails', async (_req, reply) => reply.code(502).send('bad gateway'));
    app.get('/works', async () => 'ok');
    await app.inject('/fails');
    await app.inject('/works');
    assert.equal(algorithm.samples.length, 1);
    await app.close();
  });

  test('bad options fail registration with HP_ERR_INVALID_OPTION', async () => {
    for (const options of [
      { gradient: { minLimit: 0 } },
      { maxQueue: -1 },
      { exclude: ['health'] },
      { retryAfterSeconds: -1 },
      { createLimiter: 5 as never },
    ]) {
      const app = Fastify();
      await assert.rejects(
        async () => {
          await app.register(fastifyConcurrencyLimit, options);
          await app.ready();
        },
        { code: 'HP_ERR_INVALID_OPTION' },
      );
    }
  });
});
