import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import Fastify from 'fastify';
import {
  fastifyRateLimit,
  LocalRateLimiter,
  type FastifyRateLimitOptions,
  type RateLimiter,
} from './index.js';

function manualClock() {
  let t = 0;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

async function app(options: FastifyRateLimitOptions) {
  const fastify = Fastify();
  await fastify.register(fastifyRateLimit, options);
  fastify.get('/', () => ({ ok: true }));
  fastify.get('/health', () => ({ up: true }));
  await fastify.ready();
  return fastify;
}

/** The limiter behind an interface with only the asynchronous take, as a Redis one has. */
function asyncOnly(limiter: LocalRateLimiter): RateLimiter {
  return {
    policy: limiter.policy,
    take: (key, cost) => limiter.take(key, cost),
    execute: (key, fn, cost) => limiter.execute(key, fn, cost),
    stats: () => limiter.stats(),
    close: () => limiter.close(),
  };
}

describe('fastifyRateLimit', () => {
  for (const mode of ['synchronous', 'asynchronous'] as const) {
    test(`answers 429 with the body, Retry-After and RateLimit fields once over the rate (${mode} limiter)`, async () => {
      const clock = manualClock();
      const local = new LocalRateLimiter({ rate: { limit: 2, periodMs: 5000 }, burst: 2, clock });
      const fastify = await app({ limiter: mode === 'synchronous' ? local : asyncOnly(local) });
      const first = await fastify.inject('/');
      assert.equal(first.statusCode, 200);
      assert.equal(first.headers['ratelimit'], '"default";r=1;t=3');
      assert.equal(first.headers['ratelimit-policy'], undefined, 'only on a 429 by default');
      assert.equal(first.headers['retry-after'], undefined);
      assert.equal((await fastify.inject('/')).statusCode, 200);
      clock.advance(100);
      const refused = await fastify.inject('/');
      assert.equal(refused.statusCode, 429);
      assert.deepEqual(refused.json(), {
        code: 'RATE_LIMITED',
        message: 'rate limit exceeded: retry in 3 s',
      });
      assert.match(String(refused.headers['content-type']), /^application\/json/);
      assert.equal(refused.headers['retry-after'], '3', '2.4 s rounded up');
      assert.equal(refused.headers['ratelimit-policy'], '"default";q=2;w=5');
      assert.equal(refused.headers['ratelimit'], '"default";r=0;t=3');
      clock.advance(2400);
      assert.equal((await fastify.inject('/')).statusCode, 200);
      await fastify.close();
    });
  }

  test('limits each key on its own, and takes the cost the function gives', async () => {
    const clock = manualClock();
    const limiter = new LocalRateLimiter({ rate: 1, burst: 3, clock });
    const fastify = await app({
      limiter,
      key: (request) => String(request.headers['x-user']),
      cost: (request) => (request.url === '/health' ? 0 : 2),
    });
    const as = (user: string, url = '/') => fastify.inject({ url, headers: { 'x-user': user } });
    assert.equal((await as('a')).statusCode, 200);
    const second = await as('a');
    assert.equal(second.statusCode, 429);
    assert.equal(second.headers['retry-after'], '1');
    assert.equal((await as('b')).statusCode, 200, 'another key has its own bucket');
    const peek = await as('a', '/health');
    assert.equal(peek.statusCode, 200);
    assert.equal(peek.headers['ratelimit'], '"default";r=1;t=1');
    await fastify.close();
  });

  test('skips requests the skip function picks: no decision, no fields', async () => {
    const limiter = new LocalRateLimiter({ rate: 1, burst: 1, clock: manualClock() });
    const fastify = await app({ limiter, skip: (request) => request.url === '/health' });
    assert.equal((await fastify.inject('/')).statusCode, 200);
    for (let i = 0; i < 3; i++) {
      const health = await fastify.inject('/health');
      assert.equal(health.statusCode, 200);
      assert.equal(health.headers['ratelimit'], undefined);
    }
    assert.equal((await fastify.inject('/')).statusCode, 429);
    assert.deepEqual([limiter.stats().allowed, limiter.stats().limited], [1, 1]);
    await fastify.close();
  });

  test("headers: 'all' adds RateLimit-Policy to allowed responses, 'none' sends neither field", async () => {
    const all = await app({
      limiter: new LocalRateLimiter({ rate: 1, burst: 2, clock: manualClock() }),
      headers: 'all',
      policyName: 'per-ip',
    });
    const ok = await all.inject('/');
    assert.equal(ok.headers['ratelimit-policy'], '"per-ip";q=1;w=1');
    assert.equal(ok.headers['ratelimit'], '"per-ip";r=1;t=1');
    await all.close();
    const none = await app({
      limiter: new LocalRateLimiter({ rate: 1, burst: 1, clock: manualClock() }),
      headers: 'none',
    });
    const quiet = await none.inject('/');
    assert.equal(quiet.headers['ratelimit'], undefined);
    assert.equal(quiet.headers['ratelimit-policy'], undefined);
    const refused = await none.inject('/');
    assert.equal(refused.statusCode, 429);
    assert.equal(refused.headers['ratelimit-policy'], '"default";q=1;w=1');
    assert.equal(refused.headers['ratelimit'], '"default";r=0;t=1');
    await none.close();
  });

  test('limits only the routes of the scope it is registered in', async () => {
    const limiter = new LocalRateLimiter({ rate: 1, burst: 1, clock: manualClock() });
    const fastify = Fastify();
    fastify.get('/open', () => 'open');
    await fastify.register(async (api) => {
      await api.register(fastifyRateLimit, { limiter });
      api.get('/api', () => 'api');
    });
    assert.equal((await fastify.inject('/api')).statusCode, 200);
    assert.equal((await fastify.inject('/api')).statusCode, 429);
    assert.equal((await fastify.inject('/open')).statusCode, 200);
    await fastify.close();
  });

  test('with routes, limits only the routes it picks, and the others get no hook and no fields', async () => {
    const limiter = new LocalRateLimiter({ rate: 1, burst: 1, clock: manualClock() });
    const fastify = Fastify();
    const hooked: string[] = [];
    await fastify.register(fastifyRateLimit, {
      limiter,
      routes: (route) => route.method === 'POST' && route.url === '/items',
    });
    fastify.addHook('onRoute', (route) => {
      if (route.onRequest !== undefined) hooked.push(`${String(route.method)} ${route.url}`);
    });
    fastify.post('/items', () => ({ created: true }));
    fastify.get('/items', () => ({ items: [] }));
    const first = await fastify.inject({ method: 'POST', url: '/items' });
    assert.equal(first.statusCode, 200);
    assert.equal(first.headers['ratelimit'], '"default";r=0;t=1');
    assert.equal((await fastify.inject({ method: 'POST', url: '/items' })).statusCode, 429);
    for (let i = 0; i < 3; i++) {
      const read = await fastify.inject('/items');
      assert.equal(read.statusCode, 200);
      assert.equal(read.headers['ratelimit'], undefined);
    }
    assert.deepEqual(hooked, ['POST /items']);
    await fastify.close();
  });

  test('a cost above the burst fails the request as a bug (500), not a 429', async () => {
    const limiter = new LocalRateLimiter({ rate: 1, burst: 2 });
    const fastify = await app({ limiter, cost: 3 });
    const response = await fastify.inject('/');
    assert.equal(response.statusCode, 500);
    await fastify.close();
  });

  test('refuses bad options at registration', async () => {
    const fastify = Fastify();
    await assert.rejects(
      async () => {
        await fastify.register(fastifyRateLimit, { limiter: {} as never });
      },
      { code: 'HP_ERR_INVALID_OPTION' },
    );
    const other = Fastify();
    await assert.rejects(
      async () => {
        await other.register(fastifyRateLimit, {
          limiter: new LocalRateLimiter({ rate: 1 }),
          headers: true as never,
        });
      },
      { code: 'HP_ERR_INVALID_OPTION', option: 'headers' } as object,
    );
    const third = Fastify();
    await assert.rejects(
      async () => {
        await third.register(fastifyRateLimit, {
          limiter: new LocalRateLimiter({ rate: 1 }),
          routes: '/items' as never,
        });
      },
      { code: 'HP_ERR_INVALID_OPTION', message: /routes/ },
    );
  });
});
