import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { MetricsRegistry } from '../metrics/index.js';
import { Retry, Timeout, wrap } from '../resilience/index.js';
import { HttpClient } from './index.js';

describe('HttpClient', () => {
  let server: Server;
  let origin: string;
  let hits = 0;
  const sockets = new Set<unknown>();

  before(async () => {
    server = createServer((req, res) => {
      hits++;
      if (req.url === '/slow-headers') return; // never answers: the headers timeout ends it
      if (req.url === '/flaky' && hits % 2 === 1) {
        req.socket.destroy(); // every other request loses its connection
        return;
      }
      res.writeHead(req.url === '/missing' ? 404 : 200, { 'content-type': 'text/plain' });
      res.end(`${req.method} ${req.url}`);
    });
    server.on('connection', (socket) => sockets.add(socket));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  test('sends requests to its origin and reuses one keep-alive connection', async () => {
    const client = new HttpClient({ origin, connections: 1 });
    const before = sockets.size;
    for (let i = 0; i < 3; i++) {
      const res = await client.request({ method: 'GET', path: `/n/${i}` });
      assert.equal(res.statusCode, 200);
      assert.equal(await res.body.text(), `GET /n/${i}`);
    }
    assert.equal(sockets.size - before, 1);
    await client.close();
  });

  test('records connect time, queue wait, first byte, statuses and in flight per origin', async () => {
    const registry = new MetricsRegistry();
    const client = new HttpClient({ origin, registry, connections: 1 });
    for (const path of ['/a', '/b', '/missing']) {
      const res = await client.request({ method: 'GET', path });
      await res.body.text();
    }
    const text = await registry.metrics();
    const label = `origin="${origin}"`;
    assert.match(text, new RegExp(`hotpath_http_client_connections_total\\{${label}\\} 1\\b`));
    assert.match(text, new RegExp(`hotpath_http_client_connect_seconds_count\\{${label}\\} 1\\b`));
    assert.match(
      text,
      new RegExp(`hotpath_http_client_queue_wait_seconds_count\\{${label}\\} 3\\b`),
    );
    assert.match(
      text,
      new RegExp(`hotpath_http_client_first_byte_seconds_count\\{${label}\\} 3\\b`),
    );
    assert.match(
      text,
      new RegExp(`hotpath_http_client_responses_total\\{${label},status="200"\\} 2\\b`),
    );
    assert.match(
      text,
      new RegExp(`hotpath_http_client_responses_total\\{${label},status="404"\\} 1\\b`),
    );
    assert.match(text, new RegExp(`hotpath_http_client_in_flight\\{${label}\\} 0\\b`));
    await client.close();
  });

  test('registerMetrics after construction records the requests sent from then on', async () => {
    const client = new HttpClient({ origin, connections: 1 });
    const before = await client.request({ method: 'GET', path: '/before' });
    await before.body.text();
    const registry = new MetricsRegistry();
    client.registerMetrics(registry);
    for (const path of ['/a', '/b']) {
      const res = await client.request({ method: 'GET', path });
      assert.equal(await res.body.text(), `GET ${path}`);
    }
    const text = await registry.metrics();
    const label = `origin="${origin}"`;
    // The first request went out before: only the two after it count, on a new connection.
    assert.match(text, new RegExp(`hotpath_http_client_connections_total\\{${label}\\} 1\\b`));
    assert.match(
      text,
      new RegExp(`hotpath_http_client_first_byte_seconds_count\\{${label}\\} 2\\b`),
    );
    assert.match(
      text,
      new RegExp(`hotpath_http_client_responses_total\\{${label},status="200"\\} 2\\b`),
    );
    await client.close();
  });

  test('registerMetrics moves a measured client to a new registry, keeps the same one, and is refused once closed', async () => {
    const first = new MetricsRegistry();
    const client = new HttpClient({ origin, registry: first, connections: 1 });
    const label = `origin="${origin}"`;
    const get = async (path: string): Promise<void> => {
      const res = await client.request({ method: 'GET', path });
      await res.body.text();
    };
    await get('/one');
    client.registerMetrics(first); // the same registry: nothing changes
    await get('/two');
    const second = new MetricsRegistry();
    client.registerMetrics(second);
    await get('/three');
    const responses = (text: string): string | undefined =>
      new RegExp(`hotpath_http_client_responses_total\\{${label},status="200"\\} (\\d+)`).exec(
        text,
      )?.[1];
    assert.equal(responses(await first.metrics()), '2', 'the first registry kept its two');
    assert.equal(responses(await second.metrics()), '1', 'the new registry counts from the move');
    await client.close();
    const closed = new HttpClient({ origin });
    await closed.close();
    assert.throws(() => closed.registerMetrics(new MetricsRegistry()), {
      code: 'HP_ERR_INVALID_OPTION',
    });
  });

  test('a request that gets no headers in time fails with UND_ERR_HEADERS_TIMEOUT and counts as an error', async () => {
    const registry = new MetricsRegistry();
    const client = new HttpClient({ origin, registry, headersTimeoutMs: 50 });
    await assert.rejects(client.request({ method: 'GET', path: '/slow-headers' }), {
      code: 'UND_ERR_HEADERS_TIMEOUT',
    });
    const text = await registry.metrics();
    assert.match(text, /hotpath_http_client_errors_total\{origin="[^"]+"\} 1\b/);
    assert.match(text, /hotpath_http_client_in_flight\{origin="[^"]+"\} 0\b/);
    await client.close();
  });

  test('runs each request under its policy: a retry re-sends it after a lost connection', async () => {
    const policy = wrap(new Retry({ retries: 2, baseMs: 0, jitter: 'none' }));
    const client = new HttpClient({ origin, policy });
    hits = 0;
    const res = await client.request({ method: 'POST', path: '/flaky', body: 'x' });
    assert.equal(res.statusCode, 200);
    assert.equal(await res.body.text(), 'POST /flaky');
    assert.equal(hits, 2);
    await client.close();
  });

  test("the policy's timeout aborts the request through the signal it hands undici", async () => {
    const client = new HttpClient({ origin, policy: wrap(new Timeout({ timeoutMs: 50 })) });
    await assert.rejects(client.request({ method: 'GET', path: '/slow-headers' }), {
      code: 'HP_ERR_TIMEOUT',
    });
    await client.close();
  });

  test('a request may name another origin, and one naming none is refused', async () => {
    const client = new HttpClient();
    const res = await client.request({ origin: `${origin}/ignored`, method: 'GET', path: '/x' });
    assert.equal(await res.body.text(), 'GET /x');
    await assert.rejects(client.request({ method: 'GET', path: '/x' }), {
      code: 'HP_ERR_INVALID_OPTION',
    });
    await client.close();
  });

  test('rejects bad options naming them', () => {
    assert.throws(() => new HttpClient({ connections: 0 }), /connections/);
    assert.throws(() => new HttpClient({ origin: 'not a url' }), /origin/);
    assert.throws(() => new HttpClient({ policy: {} as unknown as { execute: never } }), /policy/);
  });
});
