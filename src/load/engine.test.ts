import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type RequestListener, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { InvalidOptionError } from '../errors/index.js';
import { load } from './load.js';

async function listen(server: Server | ReturnType<typeof createNetServer>): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as { port: number }).port;
}

async function withServer<T>(
  handler: RequestListener,
  fn: (url: string) => Promise<T>,
): Promise<T> {
  const server = createServer(handler);
  const port = await listen(server);
  try {
    return await fn(`http://127.0.0.1:${port}`);
  } finally {
    server.closeAllConnections();
    server.close();
  }
}

describe('load: errors and statuses', () => {
  test('counts non-2xx by status and does not follow redirects', () =>
    withServer(
      (req, res) => {
        if (req.url === '/moved') {
          res.writeHead(302, { location: '/elsewhere' });
          res.end();
        } else {
          res.statusCode = 503;
          res.end('busy');
        }
      },
      async (url) => {
        const moved = await load({ url: `${url}/moved`, requests: 50, connections: 2 });
        assert.deepEqual(moved.statuses, { '302': 50 });
        const busy = await load({ url: `${url}/busy`, requests: 50, connections: 2 });
        assert.deepEqual(busy.statuses, { '503': 50 });
        assert.equal(
          busy.timeline.reduce((t, p) => t + p.non2xx, 0),
          50,
        );
      },
    ));

  test('classifies a request without answer as a timeout', () =>
    withServer(
      () => {
        // Never answers.
      },
      async (url) => {
        const result = await load({ url, requests: 4, connections: 4, timeoutMs: 100 });
        assert.equal(result.errors.timeout, 4);
        assert.equal(result.completed, 0);
      },
    ));

  test('classifies a connection closed mid-request as a reset', async () => {
    const server = createNetServer((socket) => socket.once('data', () => socket.destroy()));
    const port = await listen(server);
    try {
      const result = await load({ url: `http://127.0.0.1:${port}/`, requests: 20, connections: 2 });
      assert.equal(result.errors.reset, 20);
    } finally {
      server.close();
    }
  });

  test('classifies a refused connection as a connect error', async () => {
    const server = createNetServer();
    const port = await listen(server);
    server.close();
    await once(server, 'close');
    const result = await load({ url: `http://127.0.0.1:${port}/`, rate: 50, durationMs: 300 });
    assert.ok(result.errors.connect >= 5, JSON.stringify(result.errors));
    assert.equal(result.completed, 0);
  });

  test('rejects bad options naming them', async () => {
    await assert.rejects(
      load({ url: 'ftp://x/' }),
      (e: unknown) => e instanceof InvalidOptionError && e.option === 'url',
    );
    await assert.rejects(
      load({ url: 'http://127.0.0.1:1/', rate: -1 }),
      (e: unknown) => e instanceof InvalidOptionError && e.option === 'rate',
    );
    await assert.rejects(
      load({ url: 'http://127.0.0.1:1/', rate: 10, pipelining: 4 }),
      (e: unknown) => e instanceof InvalidOptionError && e.option === 'pipelining',
    );
  });
});

describe('load: models', () => {
  test('the closed model pipelines requests on each connection', () => {
    let maxInFlight = 0;
    const perSocket = new Map<unknown, number>();
    return withServer(
      (req, res) => {
        const n = (perSocket.get(req.socket) ?? 0) + 1;
        perSocket.set(req.socket, n);
        maxInFlight = Math.max(maxInFlight, n);
        setImmediate(() => {
          perSocket.set(req.socket, (perSocket.get(req.socket) ?? 1) - 1);
          res.end('ok');
        });
      },
      async (url) => {
        const result = await load({ url, connections: 2, pipelining: 8, requests: 400 });
        assert.equal(result.completed, 400);
        assert.equal(result.pipelining, 8);
        // node:http answers pipelined requests one at a time, but they were all sent.
        assert.ok(maxInFlight >= 1);
      },
    );
  });

  test('ramp stages change the arrival rate second by second', () =>
    withServer(
      (_req, res) => res.end('ok'),
      async (url) => {
        const result = await load({
          url,
          stages: [
            { durationMs: 1000, rate: 100 },
            { durationMs: 1000, rate: 300 },
          ],
        });
        // First stage ramps 0 -> 100 (about 50 requests), second 100 -> 300 (about 200).
        const [first, second] = result.timeline;
        assert.ok(first !== undefined && second !== undefined);
        assert.ok(first.requests > 30 && first.requests < 70, `first second ${first.requests}`);
        assert.ok(
          second.requests > 160 && second.requests < 240,
          `second second ${second.requests}`,
        );
        assert.ok(
          result.completed > 200 && result.completed < 300,
          `completed ${result.completed}`,
        );
      },
    ));

  test('warm-up traffic is not counted', () => {
    let served = 0;
    return withServer(
      (_req, res) => {
        served++;
        res.end('ok');
      },
      async (url) => {
        const result = await load({ url, rate: 200, warmupMs: 500, durationMs: 500 });
        assert.ok(served > result.completed + 50, `served ${served}, counted ${result.completed}`);
      },
    );
  });

  test('an aborted run resolves with the results so far', () =>
    withServer(
      (_req, res) => res.end('ok'),
      async (url) => {
        const controller = new AbortController();
        const run = load(
          { url, rate: 200, durationMs: 60_000 },
          {
            signal: controller.signal,
            onProgress: () => controller.abort(),
          },
        );
        const result = await run;
        assert.equal(result.isInterrupted, true);
        assert.ok(result.completed > 100);
      },
    ));
});

describe('load: onResponse', () => {
  test('reports each request sent with its bytes, status and body', () =>
    withServer(
      (req, res) => {
        res.statusCode = req.headers['x-n'] === '3' ? 503 : 201;
        res.end(JSON.stringify({ n: req.headers['x-n'] }));
      },
      async (url) => {
        const seen = new Map<string, { status: number; body: string }>();
        await load(
          {
            url,
            rate: 200,
            requests: 40,
            mix: { requests: [{ method: 'POST', path: '/', headers: { 'x-n': '{{seq}}' } }] },
          },
          {
            onResponse: ({ request, status, body, failure }) => {
              assert.equal(failure, null);
              const n = /x-n: (\d+)/.exec(request.toString('latin1'))![1]!;
              seen.set(n, { status, body: body.toString() });
            },
          },
        );
        assert.equal(seen.size, 40);
        assert.deepEqual(seen.get('3'), { status: 503, body: '{"n":"3"}' });
        assert.deepEqual(seen.get('39'), { status: 201, body: '{"n":"39"}' });
      },
    ));

  test('reports a request without answer with its failure', async () => {
    const server = createNetServer((socket) => socket.once('data', () => socket.destroy()));
    const port = await listen(server);
    try {
      const failures: (string | null)[] = [];
      await load(
        { url: `http://127.0.0.1:${port}/`, requests: 5, connections: 1 },
        {
          onResponse: (r) => failures.push(r.failure === null ? null : `${r.failure} ${r.status}`),
        },
      );
      assert.deepEqual(failures, Array(5).fill('reset 0'));
    } finally {
      server.close();
    }
  });

  test('is refused with several workers', async () => {
    await assert.rejects(
      load({ url: 'http://127.0.0.1:1/', requests: 1, workers: 2 }, { onResponse: () => {} }),
      (e: unknown) => e instanceof InvalidOptionError && e.option === 'workers',
    );
  });
});

// A throw-away self-signed certificate (openssl comes with Debian's ssl-cert, which the
// PostgreSQL packages CI installs depend on).
const hasOpenssl = spawnSync('openssl', ['version']).status === 0;

describe('load over HTTPS', { skip: hasOpenssl ? false : 'openssl is not installed' }, () => {
  let dir = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'hotpath-tls-'));
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
        '-days',
        '1',
        '-subj',
        '/CN=localhost',
      ],
      { stdio: 'ignore' },
    );
  });

  test('talks TLS, and verifies certificates unless told not to', async () => {
    const server = createHttpsServer(
      { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) },
      (_req, res) => res.end('secure'),
    );
    const port = await listen(server as unknown as Server);
    try {
      const url = `https://127.0.0.1:${port}/`;
      const insecure = await load({
        url,
        requests: 100,
        connections: 2,
        rejectUnauthorized: false,
      });
      assert.deepEqual(insecure.statuses, { '200': 100 });
      const verified = await load({ url, requests: 4, connections: 2 });
      assert.equal(verified.completed, 0);
      assert.ok(verified.errors.connect > 0, JSON.stringify(verified.errors));
    } finally {
      server.closeAllConnections();
      server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
