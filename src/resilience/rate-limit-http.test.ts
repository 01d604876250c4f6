import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { LocalRateLimiter, rateLimitHttp, type RateLimitHttpOptions } from './index.js';

function manualClock() {
  let t = 0;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

describe('rateLimitHttp', () => {
  const clock = manualClock();
  const limiter = new LocalRateLimiter({ rate: { limit: 1, periodMs: 1500 }, burst: 2, clock });
  let options: RateLimitHttpOptions = {};
  let handled = 0;
  let server: Server;
  let base = '';

  before(async () => {
    server = createServer((req, res) => {
      rateLimitHttp(limiter, options)(req, res).then(
        (go) => {
          if (!go) return;
          handled++;
          res.end('ok');
        },
        (error: Error) => {
          res.statusCode = 500;
          res.end(error.message);
        },
      );
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(async () => {
    server.close();
    await once(server, 'close');
  });

  test('lets requests go on with the RateLimit fields, then answers 429 itself', async () => {
    options = { key: (req: IncomingMessage) => String(req.headers['x-user']) };
    const get = () => fetch(`${base}/`, { headers: { 'x-user': 'u1' } });
    const first = await get();
    assert.equal(first.status, 200);
    assert.equal(await first.text(), 'ok');
    assert.equal(first.headers.get('ratelimit'), '"default";r=1;t=2');
    assert.equal(first.headers.get('ratelimit-policy'), null, 'only on a 429 by default');
    assert.equal((await get()).status, 200);
    const refused = await get();
    assert.equal(refused.status, 429);
    assert.deepEqual(await refused.json(), {
      code: 'RATE_LIMITED',
      message: 'rate limit exceeded: retry in 2 s',
    });
    assert.equal(refused.headers.get('retry-after'), '2', '1.5 s rounded up');
    assert.equal(refused.headers.get('ratelimit'), '"default";r=0;t=2');
    assert.equal(refused.headers.get('ratelimit-policy'), '"default";q=1;w=2');
    assert.equal(handled, 2);
  });

  test('keys by client address by default and skips what skip picks', async () => {
    options = { skip: (req: IncomingMessage) => req.url === '/health', headers: 'all' };
    const ok = await fetch(`${base}/`);
    assert.equal(ok.status, 200);
    assert.equal(ok.headers.get('ratelimit-policy'), '"default";q=1;w=2', "headers: 'all'");
    await (await fetch(`${base}/`)).text();
    assert.equal((await fetch(`${base}/`)).status, 429);
    const health = await fetch(`${base}/health`);
    assert.equal(health.status, 200);
    assert.equal(health.headers.get('ratelimit'), null);
  });

  test('rejects when the cost is above the burst', async () => {
    options = { cost: 3 };
    const response = await fetch(`${base}/`);
    assert.equal(response.status, 500);
    assert.match(await response.text(), /cost 3/);
  });

  test('checks its options', () => {
    assert.throws(() => rateLimitHttp({} as never), { code: 'HP_ERR_INVALID_OPTION' });
    assert.throws(() => rateLimitHttp(limiter, { cost: 'x' as never }), {
      code: 'HP_ERR_INVALID_OPTION',
    });
  });
});
