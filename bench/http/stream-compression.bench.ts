/**
 * What fastifyCompression's per-chunk flush costs on a stream body: an NDJSON export of 2,000
 * of the service's payments (one JSON line each), sent through a Fastify app with the plugin
 * (via `inject()`) as one string body, and as a stream of 16 KiB chunks and of one chunk per
 * line; gzip (level 1) and br (quality 4), the plugin's defaults. Bytes out are exact; CPU per
 * response (process, all threads) is the median of interleaved rounds. Rivals: the same bytes
 * sent as one body (no flush at all), and each shape uncompressed (the stream's own cost).
 *
 *   npm run bench -- http --filter stream
 */
import { Readable } from 'node:stream';
import Fastify from 'fastify';
import { fastifyCompression } from 'hotpath/http';
import { median, environment, writeResult } from '../lib/report.js';
import { payment } from './payloads.js';

const LINES = 2000;
const ROUNDS = Number(process.env.ROUNDS ?? 5);
const REPEAT = 20;
const lines = Array.from({ length: LINES }, (_, i) => `${JSON.stringify(payment(i + 1))}\n`);
const body = lines.join('');

function chunks(size: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < body.length; i += size) out.push(body.slice(i, i + size));
  return out;
}
const shapes: Record<string, () => string | Readable> = {
  'one body': () => body,
  'stream, 16 KiB chunks': () => Readable.from(chunks(16 * 1024)),
  'stream, one chunk per line': () => Readable.from(lines),
};

const app = Fastify({ logger: false });
await app.register(fastifyCompression, { etag: false });
app.get<{ Querystring: { shape: string } }>('/export', async (request, reply) =>
  reply.type('application/x-ndjson').send(shapes[request.query.shape]!()),
);

// identity: the same streams with no Accept-Encoding, to tell the stream's own cost from zlib's.
const encodings = ['identity', 'gzip', 'br'] as const;
const bytes: Record<string, number> = {};
const cpu: Record<string, number[]> = {};
for (let round = 0; round < ROUNDS; round++) {
  for (const encoding of encodings) {
    for (const shape of Object.keys(shapes)) {
      const key = `${encoding}, ${shape}`;
      const start = process.cpuUsage();
      for (let i = 0; i < REPEAT; i++) {
        const res = await app.inject({
          url: `/export?shape=${encodeURIComponent(shape)}`,
          headers: encoding === 'identity' ? {} : { 'accept-encoding': encoding },
        });
        const expected = encoding === 'identity' ? undefined : encoding;
        if (res.headers['content-encoding'] !== expected) throw new Error(`${key}: wrong coding`);
        bytes[key] = res.rawPayload.byteLength;
      }
      const used = process.cpuUsage(start);
      (cpu[key] ??= []).push((used.user + used.system) / 1000 / REPEAT);
    }
  }
}
await app.close();

const env = environment();
console.log(
  `stream compression, NDJSON of ${LINES} payments (${body.length} B), ${ROUNDS} rounds x ${REPEAT}` +
    `  (node ${env.node}, ${env.cpu}, ${env.cores} cores)`,
);
const summary: Record<string, { bytes: number; cpuMs: number }> = {};
for (const encoding of encodings) {
  const base = `${encoding}, one body`;
  for (const shape of Object.keys(shapes)) {
    const key = `${encoding}, ${shape}`;
    const cpuMs = median(cpu[key]!);
    summary[key] = { bytes: bytes[key]!, cpuMs };
    const plain = median(cpu[`identity, ${shape}`]!);
    const vs =
      (key === base
        ? ''
        : `   ${(bytes[key]! / bytes[base]!).toFixed(3)}x the bytes, ${(cpuMs / median(cpu[base]!)).toFixed(2)}x the CPU of one body`) +
      (encoding === 'identity'
        ? ''
        : `   (${(cpuMs - plain).toFixed(2)} ms more than uncompressed)`);
    console.log(
      `  ${key.padEnd(32)} ${String(bytes[key]).padStart(7)} B   ${cpuMs.toFixed(2)} ms CPU${vs}`,
    );
  }
}
writeResult('http-stream-compression', { lines: LINES, bodyBytes: body.length, summary, cpu });
