/**
 * Clients that send a request slowly (a body or headers a byte at a time) are answered 408
 * and disconnected once REQUEST_TIMEOUT_MS passes, while other requests are served.
 */
import assert from 'node:assert/strict';
import { connect, type AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { migrate, startEmbedded, type EmbeddedDatabase } from 'hotpath/db';
import type { FastifyInstance } from 'fastify';
import { buildTestApp } from '../helpers/app.js';
import { ConfigError, loadConfig } from '../../service/config.js';
import { migrations } from '../../service/migrations/index.js';

const gateway = {
  charge: () => Promise.resolve({ status: 'authorized' as const, reference: 'ch_x' }),
};

/**
 * Opens a connection that sends `head` and then one byte of `trickle` every 20 ms until the
 * server closes it (or, if it never does, gives up after 300 bytes, about 6 s); resolves with
 * everything the server sent.
 */
function slowClient(port: number, head: string, trickle: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let received = '';
    let sent = 0;
    const timer = setInterval(() => {
      if (sent === 300) socket.end();
      else if (socket.writable) socket.write(trickle[sent++ % trickle.length]!);
    }, 20);
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (received += chunk));
    socket.on('error', () => {});
    socket.on('close', () => {
      clearInterval(timer);
      resolve(received);
    });
    socket.write(head);
  });
}

describe('REQUEST_TIMEOUT_MS', () => {
  let db: EmbeddedDatabase;
  let app: FastifyInstance;
  let port: number;
  const logged: { level: number; msg: string }[] = [];
  before(async () => {
    db = await startEmbedded({ dataDir: 'memory://' });
    await migrate(db, migrations);
    app = await buildTestApp(
      { logLevel: 'info', requestTimeoutMs: 500 },
      { db, gateway, logStream: { write: (line) => void logged.push(JSON.parse(line)) } },
    );
    await app.listen({ host: '127.0.0.1', port: 0 });
    port = (app.server.address() as AddressInfo).port;
  });
  after(async () => {
    await app.close();
    await db.close();
  });

  test('slow bodies and slow headers get 408 REQUEST_TIMEOUT and are closed; others are served meanwhile', async () => {
    const slowBodies = Array.from({ length: 4 }, (_, i) =>
      slowClient(
        port,
        'POST /api/payments HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n' +
          `Content-Length: 1000\r\nIdempotency-Key: slow-${i}\r\n\r\n`,
        ' ',
      ),
    );
    const slowHeaders = Array.from({ length: 2 }, () =>
      slowClient(port, 'GET /health/live HTTP/1.1\r\n', 'X-Slow: aaaaaaaaaaaaaaaa\r\n'),
    );

    const live = await fetch(`http://127.0.0.1:${port}/health/live`);
    assert.equal(live.status, 200);
    const created = await fetch(`http://127.0.0.1:${port}/api/payments`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ user_id: 5, amount: 100, currency: 'EUR' }),
    });
    assert.equal(created.status, 201);

    for (const received of await Promise.all([...slowBodies, ...slowHeaders])) {
      assert.match(received, /^HTTP\/1\.1 408 /);
      const body = JSON.parse(received.slice(received.indexOf('\r\n\r\n') + 4)) as unknown;
      assert.deepEqual(body, {
        code: 'REQUEST_TIMEOUT',
        message: 'the request was not received within 500 ms',
      });
    }
    // A client that went away mid-body is not an error of the service (nor a database outage).
    assert.deepEqual(
      logged.filter((l) => l.level >= 50),
      [],
    );
  });
});

describe('REQUEST_TIMEOUT_MS setting', () => {
  test('defaults to 30 s', () => {
    assert.equal(loadConfig({}, []).requestTimeoutMs, 30_000);
  });

  for (const value of ['0', '50', '600001', 'soon']) {
    test(`REQUEST_TIMEOUT_MS=${value} is refused`, () => {
      assert.throws(
        () => loadConfig({ REQUEST_TIMEOUT_MS: value }, []),
        (e: unknown) => e instanceof ConfigError && e.variable === 'REQUEST_TIMEOUT_MS',
      );
    });
  }
});
