import assert from 'node:assert/strict';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
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
