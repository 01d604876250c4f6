/**
 * Response compression for the payments service's real payloads (one payment ~250 B, list
 * pages of 10 and 100 payments ~2.5 KB and ~25 KB):
 *
 * 1. each coding and level: CPU per response (µs) against bytes out, to pick the default;
 *    zstd is reported when this Node has it (Node 20 does not: `zlib.zstdCompressSync` came
 *    in Node 22.15 / 23.8);
 * 2. `fastifyCompression` (its defaults) vs `@fastify/compress` 9.2.0 (its defaults) in the
 *    same run, through Fastify's `inject()` with a browser's `Accept-Encoding`: CPU per
 *    response, minus that of the same app without compression, and bytes on the wire;
 * 3. the cost of the weak ETag (SHA-1 of the body).
 *
 * Rivals interleaved over rounds; medians reported.
 *
 *   npm run bench -- http --filter compression
 */
import * as zlib from 'node:zlib';
import Fastify, { type FastifyInstance } from 'fastify';
import fastifyCompress from '@fastify/compress';
import { fastifyCompression, weakEtag } from 'hotpath/http';
import { interleave, median, writeResult, environment } from '../lib/report.js';
import { payloads } from './payloads.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
/** About this many bytes go through each candidate per round. */
const BYTES_PER_ROUND = 2_000_000;

/** CPU µs per call of `fn`, over enough calls to pass BYTES_PER_ROUND (at least 200). */
function cpuMicros(size: number, fn: () => unknown, bytes = BYTES_PER_ROUND): number {
  const calls = Math.max(200, Math.ceil(bytes / size));
  const start = process.cpuUsage();
  for (let i = 0; i < calls; i++) fn();
  const used = process.cpuUsage(start);
  return (used.user + used.system) / calls;
}

const brotli = (quality: number) => (body: Buffer) =>
  zlib.brotliCompressSync(body, {
    params: {
      [zlib.constants.BROTLI_PARAM_QUALITY]: quality,
      [zlib.constants.BROTLI_PARAM_SIZE_HINT]: body.byteLength,
    },
  });
const gzip = (level: number) => (body: Buffer) => zlib.gzipSync(body, { level });
const settings: Record<string, (body: Buffer) => Buffer> = {
  'gzip 1': gzip(1),
  'gzip 6 (zlib default)': gzip(6),
  'gzip 9': gzip(9),
  'br 1': brotli(1),
  'br 4 (@fastify/compress default)': brotli(4),
  'br 6': brotli(6),
  'br 11 (zlib default)': brotli(11),
};
const zstd = (zlib as unknown as { zstdCompressSync?: (b: Buffer) => Buffer }).zstdCompressSync;
if (zstd !== undefined) settings['zstd (default level)'] = (body) => zstd(body);

// 1. Codings and levels.
const levels: Record<string, Record<string, { microsPerResponse: number; bytesOut: number }>> = {};
console.log(
  `codings and levels: CPU per response, bytes out  (node ${process.version}, ${environment().cpu})`,
);
if (zstd === undefined) console.log(`  zstd: not in node ${process.version} (zlib has no zstd)`);
for (const { name, body } of payloads) {
  const input = Buffer.from(body);
  // br 11 runs 100x slower: a tenth of the bytes keeps the bench short.
  const rounds = await interleave(
    Object.fromEntries(
      Object.entries(settings).map(([setting, fn]) => [
        setting,
        () =>
          cpuMicros(
            input.byteLength,
            () => fn(input),
            setting.startsWith('br 11') ? BYTES_PER_ROUND / 20 : BYTES_PER_ROUND,
          ),
      ]),
    ),
    ROUNDS,
  );
  levels[name] = {};
  console.log(`  ${name} (${input.byteLength} B)`);
  for (const [setting, fn] of Object.entries(settings)) {
    const bytesOut = fn(input).byteLength;
    const micros = rounds[setting]!.median;
    levels[name][setting] = { microsPerResponse: micros, bytesOut };
    console.log(
      `    ${setting.padEnd(33)} ${micros.toFixed(1).padStart(8)} µs  ${String(bytesOut).padStart(6)} B  ` +
        `(${(input.byteLength / bytesOut).toFixed(2)}x smaller, ${((input.byteLength - bytesOut) / micros).toFixed(0)} B saved per µs)`,
    );
  }
}

// 2. The plugins, through Fastify.
async function app(register: (f: FastifyInstance) => Promise<void>): Promise<FastifyInstance> {
  const fastify = Fastify();
  await register(fastify);
  for (const [i, { body }] of payloads.entries()) {
    fastify.get(`/p/${i}`, async (_req, reply) => reply.type('application/json').send(body));
  }
  await fastify.ready();
  return fastify;
}
const apps = {
  'hotpath fastifyCompression': await app(async (f) => {
    await f.register(fastifyCompression, { etag: false });
  }),
  '@fastify/compress': await app(async (f) => {
    await f.register(fastifyCompress);
  }),
  'no compression': await app(async () => {}),
};
const headers = { 'accept-encoding': 'gzip, deflate, br, zstd' };
const INJECTS = 600;

async function injectMicros(fastify: FastifyInstance, url: string): Promise<number> {
  const start = process.cpuUsage();
  for (let i = 0; i < INJECTS; i++) await fastify.inject({ url, headers });
  const used = process.cpuUsage(start);
  return (used.user + used.system) / INJECTS;
}

const plugins: Record<
  string,
  Record<
    string,
    { microsPerResponse: number; compressMicros: number; bytes: number; encoding: string }
  >
> = {};
console.log(
  `plugins, defaults, Accept-Encoding "${headers['accept-encoding']}", ${INJECTS} injects x ${ROUNDS} rounds`,
);
for (const [i, { name }] of payloads.entries()) {
  const url = `/p/${i}`;
  for (const fastify of Object.values(apps)) await injectMicros(fastify, url); // warm up
  const rounds = await interleave(
    Object.fromEntries(
      Object.entries(apps).map(([who, fastify]) => [who, () => injectMicros(fastify, url)]),
    ),
    ROUNDS,
  );
  const base = rounds['no compression']!.median;
  plugins[name] = {};
  console.log(`  ${name}`);
  for (const [who, fastify] of Object.entries(apps)) {
    const res = await fastify.inject({ url, headers });
    const micros = rounds[who]!.median;
    const row = {
      microsPerResponse: micros,
      compressMicros: micros - base,
      bytes: res.rawPayload.byteLength,
      encoding: String(res.headers['content-encoding'] ?? 'identity'),
    };
    plugins[name][who] = row;
    console.log(
      `    ${who.padEnd(27)} ${micros.toFixed(1).padStart(7)} µs/response (${row.compressMicros >= 0 ? '+' : ''}${row.compressMicros.toFixed(1)} over none)  ${String(row.bytes).padStart(6)} B ${row.encoding}`,
    );
  }
  const ours = plugins[name]['hotpath fastifyCompression']!;
  const theirs = plugins[name]['@fastify/compress']!;
  console.log(
    `    hotpath / @fastify/compress: CPU per response ${(ours.microsPerResponse / theirs.microsPerResponse).toFixed(2)}x, bytes ${(ours.bytes / theirs.bytes).toFixed(2)}x`,
  );
}
for (const fastify of Object.values(apps)) await fastify.close();

// 3. The ETag.
const etag: Record<string, number> = {};
console.log('weak ETag (SHA-1) per response');
for (const { name, body } of payloads) {
  etag[name] = median(
    Array.from({ length: ROUNDS }, () => cpuMicros(body.length, () => weakEtag(body))),
  );
  console.log(`  ${name.padEnd(12)} ${etag[name].toFixed(1)} µs`);
}

writeResult('http-compression', {
  rounds: ROUNDS,
  levels,
  plugins,
  etag,
  zstd: zstd !== undefined,
});
