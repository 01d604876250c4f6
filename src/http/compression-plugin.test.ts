import assert from 'node:assert/strict';
import { once } from 'node:events';
import { get, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PassThrough, Readable } from 'node:stream';
import { brotliDecompressSync, createGunzip, gunzipSync, gzipSync } from 'node:zlib';
import { describe, test } from 'node:test';
import Fastify from 'fastify';
import { fastifyCompression, type FastifyCompressionOptions } from './index.js';

const big = JSON.stringify({ items: Array.from({ length: 100 }, (_, i) => ({ id: i, x: 'y' })) });

async function app(options: FastifyCompressionOptions = {}) {
  const fastify = Fastify();
  await fastify.register(fastifyCompression, options);
  fastify.get('/big', async (_req, reply) => reply.type('application/json').send(big));
  fastify.get('/small', async () => ({ id: 1 }));
  fastify.get('/png', async (_req, reply) => reply.type('image/png').send(Buffer.alloc(4096)));
  fastify.post('/big', async (_req, reply) => reply.type('application/json').send(big));
  fastify.get('/varied', async (_req, reply) =>
    reply.header('vary', 'Origin').type('text/plain').send('z'.repeat(2048)),
  );
  return fastify;
}

describe('fastifyCompression', () => {
  test('gzips a large JSON body the client accepts gzip for, with Vary: Accept-Encoding', async () => {
    const fastify = await app();
    const res = await fastify.inject({ url: '/big', headers: { 'accept-encoding': 'gzip, br' } });
    assert.equal(res.headers['content-encoding'], 'gzip');
    assert.equal(res.headers.vary, 'Accept-Encoding');
    assert.equal(gunzipSync(res.rawPayload).toString(), big);
    assert.equal(Number(res.headers['content-length']), res.rawPayload.byteLength);
    await fastify.close();
  });

  test('honours q-values: br when the client prefers it', async () => {
    const fastify = await app();
    const res = await fastify.inject({
      url: '/big',
      headers: { 'accept-encoding': 'gzip;q=0.5, br;q=0.9' },
    });
    assert.equal(res.headers['content-encoding'], 'br');
    assert.equal(brotliDecompressSync(res.rawPayload).toString(), big);
    await fastify.close();
  });

  test('sends identity when nothing acceptable is offered, still with Vary', async () => {
    const fastify = await app();
    for (const accept of ['identity', 'gzip;q=0, br;q=0', 'deflate']) {
      const res = await fastify.inject({ url: '/big', headers: { 'accept-encoding': accept } });
      assert.equal(res.headers['content-encoding'], undefined, accept);
      assert.equal(res.headers.vary, 'Accept-Encoding');
      assert.equal(res.payload, big);
    }
    await fastify.close();
  });

  test('leaves bodies under minBytes and types outside the filter as they are', async () => {
    const fastify = await app();
    const headers = { 'accept-encoding': 'gzip, br' };
    const small = await fastify.inject({ url: '/small', headers });
    assert.equal(small.headers['content-encoding'], undefined);
    assert.equal(small.headers.vary, undefined);
    assert.deepEqual(small.json(), { id: 1 });
    const png = await fastify.inject({ url: '/png', headers });
    assert.equal(png.headers['content-encoding'], undefined);
    assert.equal(png.rawPayload.byteLength, 4096);
    await fastify.close();
  });

  test('adds Accept-Encoding to an existing Vary', async () => {
    const fastify = await app();
    const res = await fastify.inject({ url: '/varied', headers: { 'accept-encoding': 'gzip' } });
    assert.equal(res.headers.vary, 'Origin, Accept-Encoding');
    await fastify.close();
  });

  test('a GET gets a weak ETag, and If-None-Match with it gets 304 and no body', async () => {
    const fastify = await app();
    const first = await fastify.inject({ url: '/small' });
    const etag = first.headers.etag;
    assert.match(String(etag), /^W\/"[0-9a-f]+-[A-Za-z0-9_-]{27}"$/);
    const again = await fastify.inject({ url: '/small', headers: { 'if-none-match': etag } });
    assert.equal(again.statusCode, 304);
    assert.equal(again.payload, '');
    assert.equal(again.headers.etag, etag);
    const changed = await fastify.inject({
      url: '/small',
      headers: { 'if-none-match': 'W/"0-other"' },
    });
    assert.equal(changed.statusCode, 200);
    await fastify.close();
  });

  test('the ETag is the same whatever the coding, and a POST gets none', async () => {
    const fastify = await app();
    const gzip = await fastify.inject({ url: '/big', headers: { 'accept-encoding': 'gzip' } });
    const plain = await fastify.inject({ url: '/big' });
    assert.equal(gzip.headers.etag, plain.headers.etag);
    const post = await fastify.inject({ method: 'POST', url: '/big' });
    assert.equal(post.headers.etag, undefined);
    await fastify.close();
  });

  test('etag: false turns ETags off', async () => {
    const fastify = await app({ etag: false });
    const res = await fastify.inject({ url: '/small' });
    assert.equal(res.headers.etag, undefined);
    await fastify.close();
  });

  test('a HEAD gets the ETag of its GET, and 304 when it matches', async () => {
    const fastify = await app();
    const get = await fastify.inject({ url: '/small' });
    const head = await fastify.inject({ method: 'HEAD', url: '/small' });
    assert.equal(head.statusCode, 200);
    assert.equal(head.headers.etag, get.headers.etag);
    const revalidated = await fastify.inject({
      method: 'HEAD',
      url: '/small',
      headers: { 'if-none-match': String(get.headers.etag) },
    });
    assert.equal(revalidated.statusCode, 304);
    assert.equal(revalidated.headers['content-length'], undefined);
    assert.equal(revalidated.headers.etag, get.headers.etag);
    await fastify.close();
  });

  test('an error answer to a GET gets no ETag and is never 304', async () => {
    const fastify = Fastify();
    await fastify.register(fastifyCompression);
    fastify.get('/missing', async (_req, reply) => reply.code(404).send({ code: 'NOT_FOUND' }));
    const res = await fastify.inject({ url: '/missing', headers: { 'if-none-match': '*' } });
    assert.equal(res.statusCode, 404);
    assert.equal(res.headers.etag, undefined);
    assert.deepEqual(res.json(), { code: 'NOT_FOUND' });
    await fastify.close();
  });

  test('a route with config.hotpathCompression false is sent as it is: no ETag, no coding', async () => {
    const fastify = Fastify();
    await fastify.register(fastifyCompression);
    fastify.get('/probe', { config: { hotpathCompression: false } }, async (_req, reply) =>
      reply.type('application/json').send(big),
    );
    const res = await fastify.inject({
      url: '/probe',
      headers: { 'accept-encoding': 'gzip', 'if-none-match': '*' },
    });
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers.etag, undefined);
    assert.equal(res.headers['content-encoding'], undefined);
    assert.equal(res.headers.vary, undefined);
    assert.equal(res.payload, big);
    await fastify.close();
  });

  test('covers the routes of child plugins declared after it', async () => {
    const fastify = Fastify();
    await fastify.register(fastifyCompression);
    await fastify.register(async (child) => {
      child.get('/child', async (_req, reply) => reply.type('application/json').send(big));
    });
    const res = await fastify.inject({ url: '/child', headers: { 'accept-encoding': 'gzip' } });
    assert.equal(res.headers['content-encoding'], 'gzip');
    assert.match(String(res.headers.etag), /^W\//);
    await fastify.close();
  });

  test('a body just over minBytes in multi-byte characters is compressed', async () => {
    const fastify = Fastify();
    await fastify.register(fastifyCompression, { minBytes: 1024 });
    // 400 characters of 3 UTF-8 bytes each: 1200 bytes, though only 400 string units.
    const text = '€'.repeat(400);
    fastify.get('/euro', async (_req, reply) => reply.type('text/plain').send(text));
    const res = await fastify.inject({ url: '/euro', headers: { 'accept-encoding': 'gzip' } });
    assert.equal(res.headers['content-encoding'], 'gzip');
    assert.equal(gunzipSync(res.rawPayload).toString(), text);
    await fastify.close();
  });

  test('rejects bad options naming them', async () => {
    await assert.rejects(app({ gzipLevel: 0 }), /gzipLevel/);
    await assert.rejects(app({ encodings: [] }), /encodings/);
  });
});

describe('fastifyCompression with immutableBuffers', () => {
  test('compresses a Buffer sent again only once: its coding and ETag are reused', async () => {
    const fastify = Fastify();
    await fastify.register(fastifyCompression, { immutableBuffers: true });
    const asset = Buffer.from('console.log("dashboard");\n'.repeat(100));
    fastify.get('/asset.js', async (_req, reply) => reply.type('text/javascript').send(asset));
    const headers = { 'accept-encoding': 'gzip' };
    const first = await fastify.inject({ url: '/asset.js', headers });
    assert.equal(gunzipSync(first.rawPayload).toString(), asset.toString());
    // Changed in place, the same Buffer is still served in its first coding, which shows the
    // coding was not computed again (and why the option is off by default).
    asset.write('X');
    const second = await fastify.inject({ url: '/asset.js', headers });
    assert.deepEqual(second.rawPayload, first.rawPayload);
    assert.equal(second.headers.etag, first.headers.etag);
    await fastify.close();
  });
});

describe('fastifyCompression with stream bodies', () => {
  const lines = Array.from({ length: 200 }, (_, i) => JSON.stringify({ n: i, x: 'y'.repeat(20) }));
  const ndjson = `${lines.join('\n')}\n`;

  async function streamApp() {
    const fastify = Fastify();
    await fastify.register(fastifyCompression);
    fastify.get('/ndjson', async (_req, reply) =>
      reply.type('application/x-ndjson').send(Readable.from(lines.map((l) => `${l}\n`))),
    );
    fastify.get('/short', async (_req, reply) =>
      reply
        .type('text/plain')
        .header('content-length', '5')
        .send(Readable.from([Buffer.from('short')])),
    );
    fastify.get('/binary', async (_req, reply) =>
      reply.type('application/octet-stream').send(Readable.from([Buffer.alloc(4096)])),
    );
    return fastify;
  }

  test('compresses a stream of a compressible type in the negotiated coding, without Content-Length', async () => {
    const fastify = await streamApp();
    const gzip = await fastify.inject({ url: '/ndjson', headers: { 'accept-encoding': 'gzip' } });
    assert.equal(gzip.headers['content-encoding'], 'gzip');
    assert.equal(gzip.headers.vary, 'Accept-Encoding');
    assert.equal(gzip.headers.etag, undefined);
    assert.equal(gunzipSync(gzip.rawPayload).toString(), ndjson);
    assert.ok(gzip.rawPayload.byteLength < ndjson.length / 2);
    const br = await fastify.inject({ url: '/ndjson', headers: { 'accept-encoding': 'br' } });
    assert.equal(br.headers['content-encoding'], 'br');
    assert.equal(brotliDecompressSync(br.rawPayload).toString(), ndjson);
    const plain = await fastify.inject({ url: '/ndjson' });
    assert.equal(plain.headers['content-encoding'], undefined);
    assert.equal(plain.payload, ndjson);
    await fastify.close();
  });

  test('leaves a stream as it is when its Content-Length is under minBytes or its type is not compressible', async () => {
    const fastify = await streamApp();
    const headers = { 'accept-encoding': 'gzip' };
    const short = await fastify.inject({ url: '/short', headers });
    assert.equal(short.headers['content-encoding'], undefined);
    assert.equal(short.payload, 'short');
    const binary = await fastify.inject({ url: '/binary', headers });
    assert.equal(binary.headers['content-encoding'], undefined);
    assert.equal(binary.rawPayload.byteLength, 4096);
    await fastify.close();
  });

  test('a burst of small chunks is flushed when the stream pauses, not per chunk: about the bytes of one body', async () => {
    const fastify = await streamApp();
    const res = await fastify.inject({ url: '/ndjson', headers: { 'accept-encoding': 'gzip' } });
    assert.equal(gunzipSync(res.rawPayload).toString(), ndjson);
    const oneBody = gzipSync(ndjson, { level: 1 }).byteLength;
    // With a sync flush per line (36 B each) these 200 lines gzip to 2238 B against 512 B.
    assert.ok(
      res.rawPayload.byteLength < oneBody * 1.1,
      `${res.rawPayload.byteLength} B against ${oneBody} B as one body`,
    );
    await fastify.close();
  });

  test('each chunk of the stream reaches the client before the stream ends (sync flush)', async () => {
    const fastify = Fastify();
    await fastify.register(fastifyCompression, { minBytes: 0 });
    const source = new PassThrough();
    fastify.get('/events', async (_req, reply) => reply.type('text/plain').send(source));
    await fastify.listen({ host: '127.0.0.1', port: 0 });
    const { port } = fastify.server.address() as AddressInfo;
    const request = get({
      host: '127.0.0.1',
      port,
      path: '/events',
      headers: { 'accept-encoding': 'gzip' },
    });
    // Node sends the response headers with the first body bytes.
    source.write('first event\n');
    const [res] = (await once(request, 'response')) as [IncomingMessage];
    assert.equal(res.headers['content-encoding'], 'gzip');
    const text = res.pipe(createGunzip());
    // The stream is still open: this resolves only if the first chunk was flushed.
    const [first] = (await once(text, 'data')) as [Buffer];
    assert.equal(first.toString(), 'first event\n');
    source.end('last event\n');
    let rest = '';
    for await (const chunk of text) rest += String(chunk);
    assert.equal(rest, 'last event\n');
    await fastify.close();
  });

  test("a client that leaves destroys the route's stream", async () => {
    const fastify = Fastify();
    await fastify.register(fastifyCompression, { minBytes: 0 });
    const source = new PassThrough();
    fastify.get('/endless', async (_req, reply) => reply.type('text/plain').send(source));
    await fastify.listen({ host: '127.0.0.1', port: 0 });
    const { port } = fastify.server.address() as AddressInfo;
    const request = get({
      host: '127.0.0.1',
      port,
      path: '/endless',
      headers: { 'accept-encoding': 'gzip' },
    });
    request.on('error', () => {});
    source.write('tick\n');
    const [res] = (await once(request, 'response')) as [IncomingMessage];
    await once(res, 'data');
    // pipeline() destroys it with a premature-close error: a stream that nobody reads.
    source.on('error', () => {});
    const closed = new Promise((resolve) => source.once('close', resolve));
    request.destroy();
    await closed;
    assert.equal(source.destroyed, true);
    await fastify.close();
  });

  test("a route's stream that fails ends the compressed response unfinished, and the server keeps serving", async () => {
    const fastify = Fastify({ logger: false });
    await fastify.register(fastifyCompression, { minBytes: 0 });
    let source = new PassThrough();
    fastify.get('/failing', async (_req, reply) => reply.type('text/plain').send(source));
    await fastify.listen({ host: '127.0.0.1', port: 0 });
    const { port } = fastify.server.address() as AddressInfo;
    const fetchOnce = async () => {
      const request = get({
        host: '127.0.0.1',
        port,
        path: '/failing',
        headers: { 'accept-encoding': 'gzip' },
      });
      source.write('partial\n');
      const [res] = (await once(request, 'response')) as [IncomingMessage];
      return res;
    };
    const res = await fetchOnce();
    res.on('error', () => {});
    await once(res, 'data');
    const closed = new Promise((resolve) => res.once('close', resolve));
    source.destroy(new Error('the route failed'));
    await closed;
    assert.equal(res.complete, false);
    // A new request is served as usual.
    source = new PassThrough();
    const next = await fetchOnce();
    source.end('whole\n');
    let text = '';
    for await (const chunk of next.pipe(createGunzip())) text += String(chunk);
    assert.equal(text, 'partial\nwhole\n');
    await fastify.close();
  });
});
