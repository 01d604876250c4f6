import assert from 'node:assert/strict';
import { channel } from 'node:diagnostics_channel';
import { once } from 'node:events';
import { connect, type AddressInfo } from 'node:net';
import { describe, test } from 'node:test';
import Fastify from 'fastify';
import { fastifyMetrics, RequestMetrics, type SlowRequest } from './index.js';

function quietLogger(): { lines: SlowRequest[]; warn(d: SlowRequest): void } {
  const lines: SlowRequest[] = [];
  return { lines, warn: (d) => lines.push(d) };
}

async function instrumentedApp(requests: RequestMetrics) {
  const app = Fastify();
  await app.register(fastifyMetrics, { requests, path: false });
  app.get('/a/:id', async () => 'a');
  app.get('/b', async (_request, reply) => reply.code(201).send('b'));
  return app;
}

/** Writes `raw` on one connection and reads until `responses` status lines came back. */
async function rawExchange(port: number, raw: string, responses: number): Promise<string> {
  const socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  socket.write(raw);
  let text = '';
  for await (const chunk of socket) {
    text += String(chunk);
    if ((text.match(/HTTP\/1\.1 \d{3}/g) ?? []).length >= responses) break;
  }
  socket.destroy();
  return text;
}

describe('fastifyMetrics on a listening server (diagnostics channels)', () => {
  test('pipelined requests on one connection are each recorded under their own route', async () => {
    const requests = new RequestMetrics({ logger: quietLogger() });
    const app = await instrumentedApp(requests);
    await app.listen({ host: '127.0.0.1', port: 0 });
    const { port } = app.server.address() as AddressInfo;
    const text = await rawExchange(
      port,
      'GET /a/1 HTTP/1.1\r\nHost: x\r\n\r\n' +
        'GET /b HTTP/1.1\r\nHost: x\r\n\r\n' +
        'GET /a/2 HTTP/1.1\r\nHost: x\r\n\r\n' +
        'GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n',
      4,
    );
    assert.deepEqual(text.match(/HTTP\/1\.1 \d{3}/g), [
      'HTTP/1.1 200',
      'HTTP/1.1 201',
      'HTTP/1.1 200',
      'HTTP/1.1 404',
    ]);
    await app.close();
    const metrics = await requests.registry.metrics();
    assert.match(
      metrics,
      /^http_requests_total\{method="GET",route="\/a\/:id",status_class="2xx"\} 2$/m,
    );
    assert.match(
      metrics,
      /^http_requests_total\{method="GET",route="\/b",status_class="2xx"\} 1$/m,
    );
    assert.match(
      metrics,
      /^http_requests_total\{method="GET",route="unmatched",status_class="4xx"\} 1$/m,
    );
    assert.equal(requests.inFlight, 0);
    await requests.close();
  });

  test('two servers in one process each record only their own requests', async () => {
    const first = new RequestMetrics({ logger: quietLogger() });
    const second = new RequestMetrics({ logger: quietLogger() });
    const appA = await instrumentedApp(first);
    const appB = await instrumentedApp(second);
    await appA.listen({ host: '127.0.0.1', port: 0 });
    await appB.listen({ host: '127.0.0.1', port: 0 });
    const base = (app: typeof appA) =>
      `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    for (let i = 0; i < 3; i++) await (await fetch(`${base(appA)}/a/${i}`)).text();
    await (await fetch(`${base(appB)}/b`)).text();
    await appA.close();
    await appB.close();
    assert.equal(first.recent().requests, 3);
    assert.equal(second.recent().requests, 1);
    assert.match(await first.registry.metrics(), /route="\/a\/:id",status_class="2xx"\} 3$/m);
    assert.doesNotMatch(await first.registry.metrics(), /route="\/b",status_class/);
    assert.match(await second.registry.metrics(), /route="\/b",status_class="2xx"\} 1$/m);
    await first.close();
    await second.close();
  });

  test('closing the app stops following the server', async () => {
    const start = channel('http.server.request.start');
    const finish = channel('http.server.response.finish');
    const requests = new RequestMetrics({ logger: quietLogger() });
    const app = await instrumentedApp(requests);
    await app.ready();
    assert.equal(start.hasSubscribers, true);
    assert.equal(finish.hasSubscribers, true);
    await app.close();
    assert.equal(start.hasSubscribers, false);
    assert.equal(finish.hasSubscribers, false);
    await requests.close();
  });

  test('a route left out is not recorded and leaves in-flight while it still runs', async () => {
    const requests = new RequestMetrics({ logger: quietLogger() });
    const app = Fastify();
    await app.register(fastifyMetrics, { requests, path: false });
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let entered!: () => void;
    const inHandler = new Promise<void>((resolve) => (entered = resolve));
    app.get('/stream', { config: { hotpathMetrics: false } }, async () => {
      entered();
      await gate;
      return 'done';
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const { port } = app.server.address() as AddressInfo;
    const response = fetch(`http://127.0.0.1:${port}/stream`);
    await inHandler;
    assert.equal(requests.inFlight, 0);
    release();
    assert.equal(await (await response).text(), 'done');
    await app.close();
    assert.equal(requests.inFlight, 0);
    assert.equal(requests.recent().requests, 0);
    await requests.close();
  });

  test('a slow request is logged through the request logger with its route', async () => {
    const lines: string[] = [];
    const app = Fastify({
      logger: { level: 'warn', stream: { write: (line: string) => lines.push(line) } },
    });
    const requests = new RequestMetrics({ slowMs: 0 });
    await app.register(fastifyMetrics, { requests, path: false });
    app.get('/orders/:id', async () => 'ok');
    await app.listen({ host: '127.0.0.1', port: 0 });
    const { port } = app.server.address() as AddressInfo;
    await (await fetch(`http://127.0.0.1:${port}/orders/77`)).text();
    await app.close();
    const slow = lines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => l.msg === 'slow request');
    assert.ok(slow, lines.join(''));
    assert.equal(slow.route, '/orders/:id');
    assert.equal(slow.statusCode, 200);
    assert.equal(typeof slow.reqId, 'string', 'the line comes from the request logger');
    await requests.close();
  });
});
