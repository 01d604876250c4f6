/**
 * /metrics and /dashboard answer loopback clients only unless METRICS_TOKEN is set and sent,
 * and the dashboard keeps at most DASHBOARD_MAX_STREAMS event streams open.
 */
import assert from 'node:assert/strict';
import { get, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { startEmbedded, type EmbeddedDatabase } from 'hotpath/db';
import type { FastifyInstance } from 'fastify';
import { buildTestApp } from '../helpers/app.js';
import { ConfigError, loadConfig } from '../../service/config.js';

const gateway = {
  charge: () => Promise.resolve({ status: 'authorized' as const, reference: 'ch_x' }),
};
const TOKEN = 'metrics-token-0123456789';
const REMOTE = '203.0.113.7';

describe('who may read /metrics and /dashboard', () => {
  let db: EmbeddedDatabase;
  let open: FastifyInstance;
  let tokened: FastifyInstance;
  before(async () => {
    db = await startEmbedded({ dataDir: 'memory://' });
    const config = {};
    open = await buildTestApp(config, { db, gateway });
    tokened = await buildTestApp({ ...config, metricsToken: TOKEN }, { db, gateway });
  });
  after(async () => {
    await open.close();
    await tokened.close();
    await db.close();
  });

  const cases: [
    string,
    () => FastifyInstance,
    string,
    { remoteAddress?: string; headers?: Record<string, string> },
    number,
  ][] = [
    ['loopback, no token set', () => open, '/metrics', {}, 200],
    ['loopback over IPv6, no token set', () => open, '/metrics', { remoteAddress: '::1' }, 200],
    ['remote, no token set', () => open, '/metrics', { remoteAddress: REMOTE }, 403],
    ['remote, no token set: the page', () => open, '/dashboard', { remoteAddress: REMOTE }, 403],
    [
      'remote, no token set: the event stream',
      () => open,
      '/dashboard/events',
      { remoteAddress: REMOTE },
      403,
    ],
    [
      'remote, no token set: an asset',
      () => open,
      '/dashboard/assets/main.js',
      { remoteAddress: REMOTE },
      403,
    ],
    [
      'loopback through a proxy (X-Forwarded-For), no token set',
      () => open,
      '/metrics',
      { headers: { 'x-forwarded-for': REMOTE } },
      403,
    ],
    [
      'remote with a bearer token when none is set',
      () => open,
      '/metrics',
      { remoteAddress: REMOTE, headers: { authorization: `Bearer ${TOKEN}` } },
      403,
    ],
    ['remote, token set, not sent', () => tokened, '/metrics', { remoteAddress: REMOTE }, 403],
    [
      'remote, token set, a wrong one sent',
      () => tokened,
      '/metrics',
      { remoteAddress: REMOTE, headers: { authorization: `Bearer ${TOKEN}x` } },
      403,
    ],
    [
      'remote, token set and sent',
      () => tokened,
      '/metrics',
      { remoteAddress: REMOTE, headers: { authorization: `Bearer ${TOKEN}` } },
      200,
    ],
    [
      'remote, token set and sent: the page',
      () => tokened,
      '/dashboard',
      { remoteAddress: REMOTE, headers: { authorization: `bearer ${TOKEN}` } },
      200,
    ],
    [
      'proxied, token set and sent',
      () => tokened,
      '/metrics',
      { headers: { 'x-forwarded-for': REMOTE, authorization: `Bearer ${TOKEN}` } },
      200,
    ],
    ['loopback, token set, not sent', () => tokened, '/metrics', {}, 200],
    ['remote: the API is not guarded', () => open, '/health/live', { remoteAddress: REMOTE }, 200],
  ];
  for (const [name, app, url, options, status] of cases) {
    test(`${name}: GET ${url} ${status}`, async () => {
      const res = await app().inject({ method: 'GET', url, ...options });
      assert.equal(res.statusCode, status, res.body);
      if (status === 403) {
        assert.equal(res.json().code, 'FORBIDDEN');
        assert.deepEqual(Object.keys(res.json()).sort(), ['code', 'message']);
      }
    });
  }

  test('METRICS_TOKEN shorter than 16 characters is refused', () => {
    assert.throws(
      () => loadConfig({ METRICS_TOKEN: 'short' }, []),
      (e: unknown) => e instanceof ConfigError && e.variable === 'METRICS_TOKEN',
    );
  });
});

/** Opens an event stream; resolves with the response once its headers arrive. */
function openStream(port: number): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    get(`http://127.0.0.1:${port}/dashboard/events`, resolve).on('error', reject);
  });
}

async function readJson(res: IncomingMessage): Promise<Record<string, unknown>> {
  let text = '';
  for await (const chunk of res) text += String(chunk);
  return JSON.parse(text) as Record<string, unknown>;
}

describe('DASHBOARD_MAX_STREAMS', () => {
  let db: EmbeddedDatabase;
  let app: FastifyInstance;
  let port: number;
  before(async () => {
    db = await startEmbedded({ dataDir: 'memory://' });
    app = await buildTestApp({ dashboardMaxStreams: 2 }, { db, gateway });
    await app.listen({ host: '127.0.0.1', port: 0 });
    port = (app.server.address() as AddressInfo).port;
  });
  after(async () => {
    await app.close();
    await db.close();
  });

  test('one stream more than the cap is 503 TOO_MANY_STREAMS; a closed one frees its place', async () => {
    const first = await openStream(port);
    const second = await openStream(port);
    assert.equal(first.statusCode, 200);
    assert.equal(second.statusCode, 200);
    const refused = await openStream(port);
    assert.equal(refused.statusCode, 503);
    assert.ok(Number(refused.headers['retry-after']) >= 1);
    const body = await readJson(refused);
    assert.equal(body.code, 'TOO_MANY_STREAMS');
    assert.equal(typeof body.message, 'string');

    first.destroy();
    // The server sees the close on its next turn: retry until the place is free.
    let again = await openStream(port);
    for (let attempt = 0; again.statusCode === 503 && attempt < 50; attempt++) {
      again.resume();
      await new Promise((resolve) => setImmediate(resolve));
      again = await openStream(port);
    }
    assert.equal(again.statusCode, 200);
    again.destroy();
    second.destroy();
  });
});
