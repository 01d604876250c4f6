import assert from 'node:assert/strict';
import { Agent, createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, test } from 'node:test';
import Fastify from 'fastify';
import {
  fastifyMetrics,
  instrumentHttp,
  MetricsRegistry,
  RequestMetrics,
  routeTemplate,
  type SlowRequest,
} from './index.js';

function collectingLogger(): { lines: SlowRequest[]; warn(d: SlowRequest): void } {
  const lines: SlowRequest[] = [];
  return { lines, warn: (d) => lines.push(d) };
}

describe('RequestMetrics', () => {
  test('counts per route template, method and status class, and errors per route', async () => {
    const requests = new RequestMetrics({ logger: collectingLogger() });
    requests.observe('GET', '/users/:id', 200, 3);
    requests.observe('GET', '/users/:id', 200, 5);
    requests.observe('GET', '/users/:id', 404, 1);
    requests.observe('POST', '/users', 503, 20);
    const text = await requests.registry.metrics();
    assert.match(
      text,
      /^http_requests_total\{method="GET",route="\/users\/:id",status_class="2xx"\} 2$/m,
    );
    assert.match(
      text,
      /^http_requests_total\{method="GET",route="\/users\/:id",status_class="4xx"\} 1$/m,
    );
    assert.match(text, /^http_request_errors_total\{method="POST",route="\/users"\} 1$/m);
    assert.match(text, /^http_request_errors_total\{method="GET",route="\/users\/:id"\} 0$/m);
    assert.match(
      text,
      /^http_request_duration_seconds_count\{method="GET",route="\/users\/:id",status_class="2xx"\} 2$/m,
    );
    const sum =
      /^http_request_duration_seconds_sum\{method="GET",route="\/users\/:id",status_class="2xx"\} (\S+)$/m.exec(
        text,
      );
    assert.ok(Math.abs(Number(sum![1]) - 0.008) < 1e-9);
    await requests.close();
  });

  test('routes past maxRoutes fold into other and are counted', async () => {
    const requests = new RequestMetrics({ maxRoutes: 2, logger: collectingLogger() });
    for (let i = 0; i < 5; i++) requests.observe('GET', `/r${i}`, 200, 1);
    requests.observe('GET', '/r3', 500, 1);
    const text = await requests.registry.metrics();
    assert.match(text, /^http_requests_total\{method="GET",route="other",status_class="2xx"\} 3$/m);
    assert.match(text, /^http_requests_total\{method="GET",route="other",status_class="5xx"\} 1$/m);
    assert.match(text, /^http_request_errors_total\{method="GET",route="other"\} 1$/m);
    assert.match(text, /^http_routes_folded_total 4$/m);
    assert.doesNotMatch(text, /route="\/r3"/);
    await requests.close();
  });

  test('logs requests at or above slowMs with route, status and duration', async () => {
    const logger = collectingLogger();
    const requests = new RequestMetrics({ slowMs: 100, logger });
    requests.observe('GET', '/fast', 200, 99);
    requests.observe('GET', '/slow', 504, 100);
    assert.deepEqual(logger.lines, [
      { method: 'GET', route: '/slow', statusCode: 504, durationMs: 100 },
    ]);
    await requests.close();
  });

  test('recent() gives rates, error rate and windowed latency', async () => {
    let now = 0;
    const requests = new RequestMetrics({
      historyMs: 10_000,
      slotMs: 1000,
      clock: { now: () => now },
      logger: collectingLogger(),
    });
    for (let i = 0; i < 100; i++) requests.observe('GET', '/a', i < 10 ? 500 : 200, 2);
    now += 1000;
    requests.rotate();
    now += 1000;
    for (let i = 0; i < 100; i++) requests.observe('GET', '/a', 200, 4);
    const last = requests.recent(1000);
    assert.equal(last.requests, 100);
    assert.equal(last.errors, 0);
    assert.equal(last.ratePerSecond, 100);
    const both = requests.recent(2000);
    assert.equal(both.requests, 200);
    assert.equal(both.errors, 10);
    assert.equal(both.errorRate, 0.05);
    assert.equal(both.windowMs, 2000);
    assert.ok(Math.abs(both.latency.percentile(99) - 4000) / 4000 < 0.01);
    await requests.close();
  });

  test('options are checked', () => {
    assert.throws(() => new RequestMetrics({ maxRoutes: 0 }), { option: 'maxRoutes' });
    assert.throws(() => new RequestMetrics({ slowMs: -1 }), { option: 'slowMs' });
  });
});

describe('fastifyMetrics', () => {
  test('records route templates, not raw URLs, for every request a server answers', async () => {
    const registry = new MetricsRegistry();
    const requests = new RequestMetrics({ registry, logger: collectingLogger() });
    const app = Fastify();
    await app.register(fastifyMetrics, { requests });
    app.get('/payments/:id', async (request) => ({ id: (request.params as { id: string }).id }));
    app.get('/boom', async () => {
      throw new Error('boom');
    });
    app.post(
      '/users/:userId/payments',
      { schema: { body: { type: 'object', required: ['amount'] } } },
      async () => ({ ok: true }),
    );
    app.get(
      '/limited',
      { onRequest: async (_req, reply) => reply.code(429).send('slow down') },
      async () => 'never',
    );
    await app.listen({ host: '127.0.0.1', port: 0 });
    const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    for (const id of ['1', '2', '3']) await (await fetch(`${base}/payments/${id}`)).text();
    await (await fetch(`${base}/boom`)).text();
    await (await fetch(`${base}/nowhere/42`)).text();
    const invalid = await fetch(`${base}/users/u-7/payments`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    assert.equal(invalid.status, 400);
    assert.equal((await fetch(`${base}/limited`)).status, 429);
    assert.equal((await fetch(`${base}/payments/9`, { method: 'HEAD' })).status, 200);
    const response = await fetch(`${base}/metrics`);
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
    const text = await response.text();
    assert.match(
      text,
      /^http_requests_total\{method="GET",route="\/payments\/:id",status_class="2xx"\} 3$/m,
    );
    assert.match(text, /^http_request_errors_total\{method="GET",route="\/boom"\} 1$/m);
    assert.match(
      text,
      /^http_requests_total\{method="GET",route="unmatched",status_class="4xx"\} 1$/m,
    );
    assert.match(
      text,
      /^http_requests_total\{method="POST",route="\/users\/:userId\/payments",status_class="4xx"\} 1$/m,
    );
    assert.match(
      text,
      /^http_requests_total\{method="GET",route="\/limited",status_class="4xx"\} 1$/m,
    );
    assert.match(
      text,
      /^http_requests_total\{method="HEAD",route="\/payments\/:id",status_class="2xx"\} 1$/m,
    );
    assert.doesNotMatch(text, /payments\/1|u-7|nowhere/);
    assert.match(text, /^http_requests_in_flight 1$/m, 'the scrape itself is in flight');
    await app.close();
    assert.equal(requests.inFlight, 0);
    assert.equal(requests.recent().requests, 9, 'eight requests and the scrape');
    await requests.close();
  });

  test('a request the client aborts is recorded as 499 and leaves in-flight', async () => {
    const requests = new RequestMetrics({ logger: collectingLogger() });
    const app = Fastify();
    await app.register(fastifyMetrics, { requests, path: false });
    let entered!: () => void;
    const inHandler = new Promise<void>((resolve) => (entered = resolve));
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    app.get('/slow', async () => {
      entered();
      await gate;
      return 'late';
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const { port } = app.server.address() as AddressInfo;
    const req = httpRequest({ host: '127.0.0.1', port, path: '/slow', agent: false });
    req.on('error', () => undefined);
    req.end();
    await inHandler;
    assert.equal(requests.inFlight, 1);
    req.destroy();
    while (requests.inFlight > 0) await new Promise((resolve) => setImmediate(resolve));
    release();
    const text = await requests.registry.metrics();
    assert.match(text, /^http_request_errors_total\{method="GET",route="\/slow"\} 1$/m);
    assert.match(
      text,
      /^http_requests_total\{method="GET",route="\/slow",status_class="4xx"\} 1$/m,
    );
    await app.close();
    await requests.close();
  });

  test('with inject(), requests that reach a handler are recorded and logged when slow', async () => {
    const lines: string[] = [];
    const app = Fastify({
      logger: { level: 'warn', stream: { write: (line: string) => lines.push(line) } },
    });
    const requests = new RequestMetrics({ slowMs: 0 });
    await app.register(fastifyMetrics, { requests, path: false });
    app.get('/x', async () => 'ok');
    await app.inject('/x');
    const slow = lines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => l.msg === 'slow request');
    assert.ok(slow, lines.join(''));
    assert.equal(slow.route, '/x');
    assert.equal(slow.statusCode, 200);
    assert.equal(typeof slow.durationMs, 'number');
    assert.equal((await app.inject('/metrics')).statusCode, 404);
    assert.equal(requests.recent().requests, 1);
    await app.close();
    await requests.close();
  });
});

describe('instrumentHttp', () => {
  test('guesses templates from URLs', () => {
    assert.equal(routeTemplate('/users/42/payments?limit=5'), '/users/:id/payments');
    assert.equal(routeTemplate('/p/0b7e3a52-5d0e-4c8f-9a53-7f1f5c0f3a11'), '/p/:id');
    assert.equal(routeTemplate('/health/live'), '/health/live');
  });

  test('records requests served by a plain node:http server', async () => {
    const requests = new RequestMetrics({ logger: collectingLogger() });
    const server = createServer(
      instrumentHttp(
        (req, res) => {
          res.statusCode = req.url === '/fail' ? 500 : 200;
          res.end('ok');
        },
        { requests },
      ),
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const get = (path: string): Promise<void> =>
      new Promise((resolve, reject) => {
        httpRequest({ host: '127.0.0.1', port, path, agent: false }, (res) => {
          res.resume();
          res.on('end', resolve);
        })
          .on('error', reject)
          .end();
      });
    await get('/orders/17');
    await get('/orders/18');
    await get('/fail');
    await new Promise<void>((resolve) => server.close(() => resolve()));
    // 'close' on the response can trail the client's 'end' by a tick.
    await new Promise((resolve) => setImmediate(resolve));
    const text = await requests.registry.metrics();
    assert.match(
      text,
      /^http_requests_total\{method="GET",route="\/orders\/:id",status_class="2xx"\} 2$/m,
    );
    assert.match(text, /^http_request_errors_total\{method="GET",route="\/fail"\} 1$/m);
    assert.equal(requests.inFlight, 0);
    await requests.close();
  });

  test('follows the server after its first request: no listener per request, 499 for abandoned', async () => {
    const requests = new RequestMetrics({ logger: collectingLogger() });
    const closeListeners: number[] = [];
    let hung: (() => void) | undefined;
    const server = createServer(
      instrumentHttp(
        (req, res) => {
          closeListeners.push(res.listenerCount('close'));
          if (req.url === '/hang') {
            hung?.();
            return; // never answered: the client gives up
          }
          res.end('ok');
        },
        { requests },
      ),
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const get = (path: string): Promise<void> =>
      new Promise((resolve, reject) => {
        httpRequest({ host: '127.0.0.1', port, path, agent }, (res) => {
          res.resume();
          res.on('end', resolve);
        })
          .on('error', reject)
          .end();
      });
    for (let i = 0; i < 4; i++) await get(`/orders/${i}`);
    // The first request is watched through its response; the others are followed.
    assert.deepEqual(closeListeners, [
      closeListeners[1]! + 1,
      closeListeners[1],
      closeListeners[1],
      closeListeners[1],
    ]);
    const reached = new Promise<void>((resolve) => (hung = resolve));
    const abandoned = httpRequest({ host: '127.0.0.1', port, path: '/hang', agent: false });
    abandoned.on('error', () => undefined).end();
    await reached;
    assert.equal(requests.inFlight, 1);
    abandoned.destroy();
    while (requests.inFlight > 0) await new Promise((resolve) => setTimeout(resolve, 5));
    agent.destroy();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const text = await requests.registry.metrics();
    assert.match(
      text,
      /^http_requests_total\{method="GET",route="\/orders\/:id",status_class="2xx"\} 4$/m,
    );
    assert.match(text, /^http_request_errors_total\{method="GET",route="\/hang"\} 1$/m);
    await requests.close();
  });
});
