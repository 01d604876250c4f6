/**
 * Every error the service answers is `{ code, message }` with the status of its code, also
 * for what Fastify's router and Node's HTTP parser refuse before a route runs. Real sockets:
 * inject() skips the parser and the server.
 */
import assert from 'node:assert/strict';
import { connect, type AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { startEmbedded, type EmbeddedDatabase } from 'hotpath/db';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { buildTestApp } from '../helpers/app.js';
import { statusByCode } from '../../service/errors.js';

const gateway = {
  charge: () => Promise.resolve({ status: 'authorized' as const, reference: 'ch_x' }),
};

interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** The server closed the connection after answering. */
  closed: boolean;
}

/** Sends `text` on a new connection and reads the first response (and whether it closes). */
function exchange(port: number, text: string): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let data = '';
    let settled = false;
    const parse = (closed: boolean): RawResponse | undefined => {
      const end = data.indexOf('\r\n\r\n');
      if (end === -1) return undefined;
      const [statusLine, ...lines] = data.slice(0, end).split('\r\n');
      const headers: Record<string, string> = {};
      for (const line of lines) {
        const colon = line.indexOf(':');
        headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
      }
      const length = Number(headers['content-length'] ?? NaN);
      const body = data.slice(end + 4);
      if (!closed && !(body.length >= length)) return undefined;
      return { status: Number(statusLine!.split(' ')[1]), headers, body, closed };
    };
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      data += chunk;
      const res = parse(false);
      // A complete answer on a kept-alive socket: done; closing it is our side's business.
      if (res !== undefined && res.headers.connection !== 'close' && !settled) {
        settled = true;
        socket.destroy();
        resolve(res);
      }
    });
    socket.on('close', () => {
      if (settled) return;
      settled = true;
      const res = parse(true);
      if (res === undefined) reject(new Error(`connection closed without an answer: ${data}`));
      else resolve(res);
    });
    // The server may reset while we still write a header it already refused.
    socket.on('error', () => {});
    socket.write(text);
  });
}

function assertError(res: RawResponse, code: keyof typeof statusByCode): void {
  assert.equal(res.status, statusByCode[code], res.body);
  assert.match(res.headers['content-type'] ?? '', /^application\/json/);
  const body = JSON.parse(res.body) as Record<string, unknown>;
  assert.deepEqual(Object.keys(body).sort(), ['code', 'message']);
  assert.equal(body.code, code);
  assert.equal(typeof body.message, 'string');
}

describe('error answers on a real socket', () => {
  let db: EmbeddedDatabase;
  let app: FastifyInstance;
  let port: number;
  before(async () => {
    db = await startEmbedded({ dataDir: 'memory://' });
    app = await buildTestApp({}, { db, gateway });
    await app.listen({ host: '127.0.0.1', port: 0 });
    port = (app.server.address() as AddressInfo).port;
  });
  after(async () => {
    await app.close();
    await db.close();
  });

  const get = (path: string, extra = '') =>
    exchange(port, `GET ${path} HTTP/1.1\r\nHost: x\r\n${extra}\r\n`);

  const cases: [string, () => Promise<RawResponse>, keyof typeof statusByCode][] = [
    ['bad percent-encoding in a route parameter', () => get('/api/payments/%ZZ'), 'INVALID_URL'],
    ['bad percent-encoding in a static path', () => get('/api/pay%ZZments'), 'INVALID_URL'],
    [
      'bad percent-encoding in the middle of a path',
      () => get('/api/users/%E0%A4%A/payments'),
      'INVALID_URL',
    ],
    [
      'a path parameter over the router limit',
      () => get(`/api/payments/${'a'.repeat(200)}`),
      'URI_TOO_LONG',
    ],
    [
      'a 20 KB header',
      () => get('/health/live', `X-Big: ${'a'.repeat(20_000)}\r\n`),
      'HEADER_TOO_LARGE',
    ],
    [
      'a method the parser does not know',
      () => exchange(port, 'FOO / HTTP/1.1\r\nHost: x\r\n\r\n'),
      'BAD_REQUEST',
    ],
    ['a malformed request line', () => exchange(port, 'GET\r\n\r\n'), 'BAD_REQUEST'],
    [
      'a header line without a colon',
      () => exchange(port, 'GET /health/live HTTP/1.1\r\nHost: x\r\nnonsense\r\n\r\n'),
      'BAD_REQUEST',
    ],
    ['an unknown path', () => get('/api/nothing-here'), 'NOT_FOUND'],
  ];
  for (const [name, send, code] of cases) {
    test(`${name}: ${statusByCode[code]} ${code}`, async () => {
      assertError(await send(), code);
    });
  }

  test('a refused header closes the connection', async () => {
    const res = await get('/health/live', `X-Big: ${'a'.repeat(20_000)}\r\n`);
    assert.equal(res.closed, true);
  });

  const methods: [string, string, string][] = [
    ['DELETE', '/api/payments', 'POST'],
    ['GET', '/api/payments', 'POST'],
    ['PUT', '/api/payments/01890000-0000-7000-8000-000000000001', 'GET, HEAD'],
    ['POST', '/api/users/1/summary', 'GET, HEAD'],
    ['PATCH', '/health/ready', 'GET, HEAD'],
  ];
  for (const [method, path, allow] of methods) {
    test(`${method} ${path}: 405 METHOD_NOT_ALLOWED with Allow: ${allow}`, async () => {
      const res = await exchange(
        port,
        `${method} ${path} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n`,
      );
      assertError(res, 'METHOD_NOT_ALLOWED');
      assert.equal(res.headers.allow, allow);
    });
  }

  test('while draining, requests get 503 SERVICE_UNAVAILABLE as JSON and Connection: close', async () => {
    app.draining = true;
    try {
      const res = await get('/api/users/1/summary');
      assertError(res, 'SERVICE_UNAVAILABLE');
      assert.equal(res.headers.connection, 'close');
      assert.ok(Number(res.headers['retry-after']) >= 1);
    } finally {
      app.draining = false;
    }
  });
});

describe('error answers through inject', () => {
  let db: EmbeddedDatabase;
  let app: FastifyInstance;
  before(async () => {
    db = await startEmbedded({ dataDir: 'memory://' });
    app = await buildTestApp({}, { db, gateway });
  });
  after(async () => {
    await app.close();
    await db.close();
  });

  const json = { 'content-type': 'application/json' };
  const cases: [string, InjectOptions, keyof typeof statusByCode][] = [
    [
      'a body with __proto__',
      { method: 'POST', url: '/api/payments', headers: json, payload: '{"__proto__":{"x":1}}' },
      'INVALID_JSON',
    ],
    [
      'a body with constructor.prototype',
      {
        method: 'POST',
        url: '/api/payments',
        headers: json,
        payload: '{"constructor":{"prototype":{"x":1}}}',
      },
      'INVALID_JSON',
    ],
    [
      'a content type that is not JSON',
      {
        method: 'POST',
        url: '/api/payments',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        payload: 'user_id=1',
      },
      'UNSUPPORTED_MEDIA_TYPE',
    ],
    [
      'a body too large',
      { method: 'POST', url: '/api/payments', headers: json, payload: `"${'x'.repeat(20_000)}"` },
      'BODY_TOO_LARGE',
    ],
  ];
  for (const [name, request, code] of cases) {
    test(`${name}: ${statusByCode[code]} ${code}`, async () => {
      const res = await app.inject(request);
      assert.equal(res.statusCode, statusByCode[code], res.body);
      assert.deepEqual(Object.keys(res.json()).sort(), ['code', 'message']);
      assert.equal(res.json().code, code);
    });
  }
});
