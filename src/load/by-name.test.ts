/**
 * Per-name statistics and response checks, measured by the engine against node:http servers
 * on 127.0.0.1 that count what they answered: the server's counts are the truth the result is
 * held to. Also the server being slow (bodies in pieces), gone (connection refused, reset) or
 * frozen (no answer), and the start-time wait.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type RequestListener } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { describe, test } from 'node:test';
import { load } from './load.js';
import type { RequestMix } from './request-mix.js';
import type { LoadResult } from './result.js';

async function withServer<T>(
  handler: RequestListener,
  fn: (url: string) => Promise<T>,
): Promise<T> {
  const server = createServer(handler);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  try {
    return await fn(`http://127.0.0.1:${(server.address() as { port: number }).port}`);
  } finally {
    server.closeAllConnections();
    server.close();
  }
}

/** What the server answered, per name. */
interface Served {
  read: number;
  authorized: number;
  declined: number;
  flakyOk: number;
  flaky503: number;
}

/** Answers /read 200, /pay/N 201 (declined when N % 4 == 0), /flaky 200 and 503 in turn. */
function paymentsServer(served: Served, options: { slowBody?: boolean } = {}): RequestListener {
  let flaky = 0;
  return (req, res) => {
    req.resume();
    req.on('end', () => {
      if (req.url!.startsWith('/read')) {
        served.read++;
        res.end('hello');
      } else if (req.url!.startsWith('/pay/')) {
        const n = Number(req.url!.slice(5));
        const isDeclined = n % 4 === 0;
        if (isDeclined) served.declined++;
        else served.authorized++;
        const body = JSON.stringify({ id: n, status: isDeclined ? 'declined' : 'authorized' });
        res.writeHead(201, { 'content-type': 'application/json' });
        if (options.slowBody === true) {
          // The body in two pieces, the second a little later: the check reads it whole.
          res.write(body.slice(0, 7));
          setTimeout(() => res.end(body.slice(7)), 5);
        } else res.end(body);
      } else {
        const isOk = flaky++ % 2 === 0;
        if (isOk) served.flakyOk++;
        else served.flaky503++;
        res.statusCode = isOk ? 200 : 503;
        res.end('x');
      }
    });
  };
}

const MIX: RequestMix = {
  requests: [
    { name: 'read', path: '/read', weight: 2 },
    {
      name: 'create',
      method: 'POST',
      path: '/pay/{{seq}}',
      body: { amount: 500 },
      check: { status: 201, json: { '$.status': 'authorized' } },
    },
    { path: '/flaky', check: { status: [200] } },
    // A second entry under an existing name: its figures add to that name's.
    { name: 'read', path: '/read?page=2' },
  ],
};

function sumOver(r: LoadResult, f: (n: NonNullable<LoadResult['byName']>[string]) => number) {
  return Object.values(r.byName!).reduce((t, n) => t + f(n), 0);
}

describe('load: per-name statistics and response checks', () => {
  test('breaks down statuses, latency histograms and failed checks by name, as the server counted them', async () => {
    const served: Served = { read: 0, authorized: 0, declined: 0, flakyOk: 0, flaky503: 0 };
    await withServer(paymentsServer(served), async (url) => {
      const r = await load({ url, mix: MIX, requests: 600, connections: 4, seed: 7 });
      assert.deepEqual(Object.keys(r.byName!).sort(), ['GET /flaky', 'create', 'read']);
      const { read, create, 'GET /flaky': flaky } = r.byName!;
      assert.deepEqual(read!.statuses, { '200': served.read });
      assert.deepEqual(create!.statuses, { '201': served.authorized + served.declined });
      assert.deepEqual(flaky!.statuses, { '200': served.flakyOk, '503': served.flaky503 });
      for (const n of [read!, create!, flaky!]) {
        assert.equal(n.latency.count, n.completed);
        assert.equal(n.sent, n.completed);
        assert.ok(n.completed > 0);
      }
      assert.equal(
        sumOver(r, (n) => n.completed),
        r.completed,
      );
      assert.equal(
        sumOver(r, (n) => n.latency.count),
        r.latency.count,
      );
      // Checks: every create and flaky response was judged; read has none.
      assert.deepEqual(create!.checks, {
        checked: create!.completed,
        failed: served.declined,
        failures: served.declined > 0 ? { '$.status': served.declined } : {},
      });
      assert.deepEqual(flaky!.checks, {
        checked: flaky!.completed,
        failed: served.flaky503,
        failures: { status: served.flaky503 },
      });
      assert.deepEqual(read!.checks, { checked: 0, failed: 0, failures: {} });
      assert.equal(r.checks!.failed, served.declined + served.flaky503);
      assert.equal(r.checks!.checked, create!.completed + flaky!.completed);
      assert.ok(served.declined > 0 && served.flaky503 > 0);
      // Failed checks are not transport errors.
      assert.deepEqual(r.errors, { connect: 0, timeout: 0, reset: 0 });
      assert.equal(r.latencyUnit, 'us');
    });
  });

  test('a single URL is one name, METHOD and path', async () => {
    await withServer(
      (_req, res) => res.end('ok'),
      async (url) => {
        const r = await load({ url: `${url}/ping?x=1`, requests: 50, connections: 2 });
        assert.deepEqual(Object.keys(r.byName!), ['GET /ping?x=1']);
        assert.equal(r.byName!['GET /ping?x=1']!.completed, 50);
        assert.deepEqual(r.checks, { checked: 0, failed: 0, failures: {} });
      },
    );
  });

  test('a JSON check reads a body that arrives in pieces from a slow server', async () => {
    const served: Served = { read: 0, authorized: 0, declined: 0, flakyOk: 0, flaky503: 0 };
    await withServer(paymentsServer(served, { slowBody: true }), async (url) => {
      const r = await load({
        url,
        mix: { requests: [MIX.requests[1]!] },
        requests: 80,
        connections: 4,
      });
      assert.equal(r.byName!.create!.checks.checked, 80);
      assert.equal(r.byName!.create!.checks.failed, served.declined);
      assert.equal(served.declined, 20);
    });
  });

  test('requests a server resets are errors of their name, never failed checks', async () => {
    const server = createNetServer((socket) => socket.once('data', () => socket.destroy()));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
      const r = await load({
        url,
        mix: { requests: [MIX.requests[1]!] },
        requests: 20,
        connections: 2,
      });
      const create = r.byName!.create!;
      assert.equal(create.errors.reset, 20);
      assert.equal(create.completed, 0);
      assert.deepEqual(create.checks, { checked: 0, failed: 0, failures: {} });
    } finally {
      server.close();
    }
  });

  test('a server that is gone gives connect errors under each name and no checks', async () => {
    const server = createNetServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as { port: number }).port;
    server.close();
    await once(server, 'close');
    const r = await load({
      url: `http://127.0.0.1:${port}`,
      mix: MIX,
      rate: 100,
      requests: 30,
      connections: 2,
      timeoutMs: 500,
    });
    assert.ok(r.errors.connect > 0);
    assert.equal(
      sumOver(r, (n) => n.errors.connect),
      r.errors.connect,
    );
    assert.equal(r.checks!.checked, 0);
  });

  test('a frozen route times out under its own name while the others answer', async () => {
    const served: Served = { read: 0, authorized: 0, declined: 0, flakyOk: 0, flaky503: 0 };
    const answer = paymentsServer(served);
    await withServer(
      (req, res) => {
        if (req.url!.startsWith('/pay/')) return; // never answers
        answer(req, res);
      },
      async (url) => {
        const r = await load({
          url,
          mix: MIX,
          rate: 200,
          durationMs: 1000,
          timeoutMs: 300,
          seed: 3,
        });
        const { read, create } = r.byName!;
        // Every create the frozen route took timed out, under its own name (timeouts may also
        // count creates that waited past the timeout for a connection and were never sent).
        assert.ok(create!.sent > 0);
        assert.ok(create!.errors.timeout >= create!.sent);
        assert.equal(create!.completed, 0);
        assert.deepEqual(create!.checks, { checked: 0, failed: 0, failures: {} });
        // The reads were answered: each one sent completed with its 200 or (only on a machine
        // so loaded that it stalls past the timeout) timed out on its own; none was lost or
        // counted under another name, and none is counted that the server did not answer.
        assert.ok(read!.completed > 0);
        assert.equal(read!.statuses['200'], read!.completed);
        assert.ok(read!.completed + read!.errors.timeout >= read!.sent);
        assert.ok(read!.completed <= served.read);
      },
    );
  });

  test('worker threads merge their per-name histograms and checks exactly', async () => {
    const served: Served = { read: 0, authorized: 0, declined: 0, flakyOk: 0, flaky503: 0 };
    await withServer(paymentsServer(served), async (url) => {
      const r = await load({ url, mix: MIX, requests: 400, connections: 4, workers: 2, seed: 11 });
      assert.equal(r.workers, 2);
      const { read, create, 'GET /flaky': flaky } = r.byName!;
      assert.equal(read!.completed, served.read);
      assert.equal(read!.latency.count, served.read);
      assert.equal(create!.completed, served.authorized + served.declined);
      assert.equal(flaky!.checks.failed, served.flaky503);
      assert.equal(
        sumOver(r, (n) => n.latency.count),
        400,
      );
      // Each worker numbers its own {{seq}} from 0, so declines come from both.
      assert.equal(create!.checks.failed, served.declined);
    });
  });

  test('onResponse tells each request its name and recorded latency', async () => {
    const served: Served = { read: 0, authorized: 0, declined: 0, flakyOk: 0, flaky503: 0 };
    await withServer(paymentsServer(served), async (url) => {
      const names = new Map<string, number>();
      let total = 0;
      const r = await load(
        { url, mix: MIX, requests: 100, connections: 2, seed: 5 },
        {
          onResponse: ({ name, latencyUs }) => {
            names.set(name!, (names.get(name!) ?? 0) + 1);
            total += latencyUs!;
          },
        },
      );
      for (const [name, n] of Object.entries(r.byName!)) assert.equal(names.get(name), n.completed);
      assert.equal(total, r.latency.histogram.sum);
    });
  });
});

describe('load: start time', () => {
  test('waits for startAt before sending anything', async () => {
    let first = 0;
    await withServer(
      (_req, res) => {
        first ||= Date.now();
        res.end('ok');
      },
      async (url) => {
        const startAt = Date.now() + 400;
        const r = await load({ url, requests: 10, connections: 1, startAt });
        assert.equal(r.completed, 10);
        assert.ok(first >= startAt, `first request at ${first}, start at ${startAt}`);
      },
    );
  });

  test('stopped while waiting for startAt, it sends nothing', async () => {
    let seen = 0;
    await withServer(
      (_req, res) => {
        seen++;
        res.end('ok');
      },
      async (url) => {
        const controller = new AbortController();
        const run = load(
          { url, requests: 10, connections: 1, startAt: Date.now() + 60_000 },
          { signal: controller.signal },
        );
        controller.abort();
        const r = await run;
        assert.equal(r.isInterrupted, true);
        assert.equal(r.sent, 0);
        assert.equal(r.completed, 0);
        assert.equal(seen, 0);
      },
    );
  });
});
