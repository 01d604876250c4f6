import assert from 'node:assert/strict';
import { after, before, describe, mock, test } from 'node:test';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { startEmbedded, type Database } from 'hotpath/db';
import { buildTestApp } from '../helpers/app.js';
import { LazyChildLogger, lazyChildLoggerFactory } from '../../service/plugins/request-logger.js';

interface LogLine {
  level: number;
  msg: string;
  reqId?: string;
  err?: { message: string; stack?: string };
  [key: string]: unknown;
}

function collector(): { lines: LogLine[]; stream: { write(line: string): void } } {
  const lines: LogLine[] = [];
  return { lines, stream: { write: (line) => void lines.push(JSON.parse(line) as LogLine) } };
}

/** A pino logger at `info` writing to `stream`: the one Fastify makes for an app. */
function pinoLogger(stream: { write(line: string): void }): FastifyBaseLogger {
  return Fastify({ logger: { level: 'info', stream } }).log;
}

describe('LazyChildLogger', () => {
  test('makes no pino child until something logs, then one child with the bindings', () => {
    const { lines, stream } = collector();
    const parent = pinoLogger(stream);
    const child = mock.method(parent, 'child');
    const log = new LazyChildLogger(parent, { reqId: 'req-7' }, {});
    assert.equal(log.level, 'info');
    assert.equal(log.isMaterialized, false);
    assert.equal(child.mock.callCount(), 0);
    log.warn({ route: '/x' }, 'first');
    log.error('second');
    assert.equal(child.mock.callCount(), 1);
    assert.equal(log.isMaterialized, true);
    assert.deepEqual(
      lines.map((l) => [l.msg, l.reqId, l.level]),
      [
        ['first', 'req-7', 40],
        ['second', 'req-7', 50],
      ],
    );
    assert.equal(lines[0]!.route, '/x');
  });

  test("honours the child options Fastify passes (a route's log level)", () => {
    const { lines, stream } = collector();
    const parent = pinoLogger(stream);
    const log = new LazyChildLogger(parent, { reqId: 'req-1' }, { level: 'warn' });
    assert.equal(log.level, 'warn');
    log.info('dropped');
    log.warn('kept');
    assert.deepEqual(
      lines.map((l) => l.msg),
      ['kept'],
    );
  });
});

describe('lazyChildLoggerFactory in Fastify', () => {
  test("a request's log lines carry its reqId; requests that log nothing make no child", async () => {
    const { lines, stream } = collector();
    const app = Fastify({
      logger: { level: 'info', stream },
      disableRequestLogging: true,
      childLoggerFactory: lazyChildLoggerFactory,
    });
    const logs: FastifyBaseLogger[] = [];
    app.get('/quiet', async (request) => {
      logs.push(request.log);
      return { ok: true };
    });
    app.get('/loud', async (request) => {
      logs.push(request.log);
      request.log.warn('something to say');
      return { ok: true };
    });
    await app.inject({ url: '/quiet' });
    const loud = await app.inject({ url: '/loud' });
    assert.equal(loud.statusCode, 200);
    assert.deepEqual(
      logs.map((l) => (l as LazyChildLogger).isMaterialized),
      [false, true],
    );
    const said = lines.filter((l) => l.msg === 'something to say');
    assert.equal(said.length, 1);
    assert.match(String(said[0]!.reqId), /^req-/);
    await app.close();
  });
});

describe('the service logs errors through the lazy request logger', () => {
  let db: Database;
  let app: FastifyInstance;
  const { lines, stream } = collector();
  before(async () => {
    db = await startEmbedded({ dataDir: 'memory://' });
    app = await buildTestApp(
      { logLevel: 'info' },
      {
        db,
        gateway: { charge: async () => ({ status: 'authorized', reference: 'ch_1' }) },
        logStream: stream,
      },
    );
    app.get('/boom', async () => {
      throw new Error('a bug');
    });
  });
  after(async () => {
    await app?.close();
    await db?.close();
  });

  test('an unhandled error answers 500 INTERNAL and is logged once with its reqId and stack', async () => {
    lines.length = 0;
    const res = await app.inject({ url: '/boom' });
    assert.equal(res.statusCode, 500);
    assert.equal(res.json().code, 'INTERNAL');
    const logged = lines.filter((l) => l.msg === 'unhandled error');
    assert.equal(logged.length, 1);
    assert.match(String(logged[0]!.reqId), /^req-/);
    assert.equal(logged[0]!.err?.message, 'a bug');
    assert.match(String(logged[0]!.err?.stack), /a bug/);
  });

  test('a request that logs nothing writes no line', async () => {
    lines.length = 0;
    const res = await app.inject({ url: '/health/live' });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(lines, []);
  });
});
