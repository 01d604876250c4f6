import { pipeline, type Readable, type Transform } from 'node:stream';
import {
  brotliCompressSync,
  constants,
  createBrotliCompress,
  createGzip,
  gzipSync,
} from 'node:zlib';
import type {
  FastifyPluginCallback,
  FastifyReply,
  FastifyRequest,
  onSendHookHandler,
  RouteOptions,
} from 'fastify';
import { InvalidOptionError } from '../errors/index.js';
import { checkNumber } from '../internal/validate-options.js';
import { negotiateEncoding, type Encoding } from './accept-encoding.js';
import { etagMatches, weakEtag } from './etag.js';

/** JSON, text, JavaScript, XML and SVG: the types that shrink. */
const COMPRESSIBLE =
  /^(?:text\/|application\/(?:json|javascript|xml|x-ndjson|[a-z0-9.+-]*\+(?:json|xml))|image\/svg\+xml)/i;

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * `false`: {@link fastifyCompression} leaves this route's answers as they are (no coding,
     * no ETag), and the route has no `onSend` hook of it: for small answers nobody revalidates,
     * such as health probes.
     */
    hotpathCompression?: boolean;
  }
}

/** Options of {@link fastifyCompression}. */
export interface FastifyCompressionOptions {
  /**
   * Bodies smaller than this many bytes are sent as they are: below about 1 KB the coding's
   * header and the CPU cost more than the bytes saved (bench/http/compression.bench.ts).
   * @defaultValue 1024
   */
  minBytes?: number;
  /** Which `Content-Type`s to compress. @defaultValue JSON, text, JavaScript, XML, SVG */
  contentType?: RegExp | ((contentType: string) => boolean);
  /**
   * Codings offered, in the server's order of preference among those the client accepts with
   * the same q-value.
   * @defaultValue `['gzip', 'br']`
   */
  encodings?: readonly Encoding[];
  /**
   * gzip level (1-9). 1 is chosen by measurement: on the service's 25 KB list page it takes
   * a quarter to a half of the CPU of brotli 4 (`@fastify/compress`'s default) for some 20%
   * more bytes, still 4.6x smaller than the body (docs/http.md).
   * @defaultValue 1
   */
  gzipLevel?: number;
  /** brotli quality (0-11). @defaultValue 4 */
  brotliQuality?: number;
  /**
   * Weak `ETag` on 200 answers to GET and HEAD (a SHA-1 of the body) and `304 Not Modified`
   * when `If-None-Match` matches, whatever the body's size or type.
   * @defaultValue true
   */
  etag?: boolean;
  /**
   * Takes Buffer bodies as immutable: the ETag and each coding of a Buffer are computed once and
   * reused whenever the same Buffer is sent again (static assets, such as the dashboard's, are
   * then served precompressed). Leave it off if a route sends a Buffer it later changes in place.
   * @defaultValue false
   */
  immutableBuffers?: boolean;
}

/**
 * A Fastify plugin that compresses response bodies of compressible types above a size
 * threshold, in the coding the client's `Accept-Encoding` prefers (q-values honoured,
 * `Vary: Accept-Encoding` set), and answers conditional GETs with `304` from a weak ETag.
 * String and Buffer bodies are compressed synchronously: for bodies of up to some 100 KB that
 * is cheaper than handing zlib's thread pool a job per response. Stream bodies go through a
 * zlib stream that is flushed whenever the route's stream pauses (so events and progress
 * reach the client when they would have uncompressed); a stream whose `Content-Length` is
 * set below `minBytes` is left as it is, one without is compressed. Streams get no ETag (their
 * body is not known up front).
 * Registered without encapsulation, it covers every route of the instance.
 * @throws {@link InvalidOptionError} `HP_ERR_INVALID_OPTION` on a bad option.
 * @example
 * ```ts
 * await app.register(fastifyCompression, { minBytes: 1024 });
 * ```
 */
export const fastifyCompression: FastifyPluginCallback<FastifyCompressionOptions> = Object.assign(
  (
    app: Parameters<FastifyPluginCallback<FastifyCompressionOptions>>[0],
    options: FastifyCompressionOptions,
    done: (error?: Error) => void,
  ) => {
    let settings: Settings;
    try {
      settings = checkOptions(options);
    } catch (error) {
      // Thrown inside avvio's call it would be uncaught: report it as the plugin's failure.
      done(error as Error);
      return;
    }
    const { minBytes, gzipLevel, brotliQuality, encodings, isCompressible, etag } = settings;
    // Per Buffer sent: its ETag and codings, dropped with the Buffer.
    const memo = options.immutableBuffers === true ? new WeakMap<Buffer, Memo>() : undefined;
    const compress = (encoding: Encoding, body: Buffer): Buffer =>
      encoding === 'gzip'
        ? gzipSync(body, { level: gzipLevel })
        : brotliCompressSync(body, {
            params: {
              [constants.BROTLI_PARAM_QUALITY]: brotliQuality,
              [constants.BROTLI_PARAM_SIZE_HINT]: body.byteLength,
            },
          });

    // A stream's bytes are flushed to the client once the route's stream has nothing more to
    // give for now: one event-loop turn (setImmediate) after its last chunk, with a sync flush
    // (gzip Z_SYNC_FLUSH, brotli FLUSH: the dictionary is kept). Events and progress lines reach
    // the client when they would have uncompressed, and a burst of small chunks is flushed
    // once, not per chunk (a flush per chunk made an NDJSON export of 250 B lines 1.5x larger
    // than one body: bench/http/stream-compression.bench.ts).
    const compressStream = (encoding: Encoding, source: Readable): Transform => {
      const zip =
        encoding === 'gzip'
          ? createGzip({ level: gzipLevel })
          : createBrotliCompress({
              params: { [constants.BROTLI_PARAM_QUALITY]: brotliQuality },
            });
      const kind = encoding === 'gzip' ? constants.Z_SYNC_FLUSH : constants.BROTLI_OPERATION_FLUSH;
      let scheduled: NodeJS.Immediate | undefined;
      const flush = () => {
        scheduled = undefined;
        if (!zip.destroyed && !zip.writableEnded) zip.flush(kind);
      };
      source.on('data', () => {
        scheduled ??= setImmediate(flush);
      });
      zip.once('close', () => {
        if (scheduled !== undefined) clearImmediate(scheduled);
      });
      return zip;
    };
    /** A stream body: a compressible type, not already encoded, not known to be under minBytes. */
    const isStreamCompressible = (reply: FastifyReply): boolean => {
      if (reply.statusCode === 204 || reply.statusCode === 304) return false;
      if (reply.hasHeader('content-encoding')) return false;
      const type = reply.getHeader('content-type');
      if (typeof type !== 'string' || !isCompressible(type)) return false;
      const length = reply.getHeader('content-length');
      return length === undefined || Number(length) >= minBytes;
    };

    // The work of onSend, synchronous: run by a callback-style hook, so a response costs no
    // promise and no extra microtask turn (bench/service/overhead.bench.ts).
    const onSend = (
      request: FastifyRequest,
      reply: FastifyReply,
      payload: unknown,
      withEtag: boolean,
    ): unknown => {
      if (isReadable(payload)) {
        if (!isStreamCompressible(reply)) return payload;
        addVary(reply);
        const encoding = negotiateEncoding(request.headers['accept-encoding'], encodings);
        if (encoding === undefined) return payload;
        reply.header('content-encoding', encoding);
        reply.removeHeader('content-length');
        const zip = compressStream(encoding, payload);
        // Errors and early ends travel both ways: a client that leaves destroys the zlib
        // stream (Fastify does), which destroys the route's stream; a failing route's
        // stream fails the response.
        pipeline(payload, zip, () => {});
        return zip;
      }
      if (typeof payload !== 'string' && !Buffer.isBuffer(payload)) return payload;
      if (
        withEtag &&
        reply.statusCode === 200 &&
        (request.method === 'GET' || request.method === 'HEAD')
      ) {
        let tag = reply.getHeader('etag');
        if (tag === undefined) {
          const entry = memoOf(memo, payload);
          tag = entry?.etag ?? weakEtag(payload);
          if (entry !== undefined) entry.etag = tag;
          reply.header('etag', tag);
        }
        const ifNoneMatch = request.headers['if-none-match'];
        if (ifNoneMatch !== undefined && etagMatches(ifNoneMatch, String(tag))) {
          reply.code(304);
          reply.removeHeader('content-length');
          reply.removeHeader('content-type');
          // Fastify's own HEAD route empties the payload in a later hook that takes no null.
          return request.method === 'HEAD' ? undefined : null;
        }
      }
      // The size first: most answers of an API are small, and a string of n UTF-16 units is
      // at most 3n bytes of UTF-8, so a short one needs no byte count and no header lookup.
      if (typeof payload === 'string') {
        if (payload.length * 3 < minBytes || Buffer.byteLength(payload) < minBytes) return payload;
      } else if (payload.byteLength < minBytes) return payload;
      if (reply.hasHeader('content-encoding')) return payload;
      const type = reply.getHeader('content-type');
      if (typeof type !== 'string' || !isCompressible(type)) return payload;
      // From here the answer depends on Accept-Encoding, whichever coding it gets.
      addVary(reply);
      const encoding = negotiateEncoding(request.headers['accept-encoding'], encodings);
      if (encoding === undefined) return payload;
      const entry = memoOf(memo, payload);
      const body =
        entry?.[encoding] ??
        compress(encoding, typeof payload === 'string' ? Buffer.from(payload) : payload);
      if (entry !== undefined) entry[encoding] = body;
      reply.header('content-encoding', encoding);
      reply.removeHeader('content-length');
      return body;
    };
    const hook =
      (withEtag: boolean): onSendHookHandler =>
      (request, reply, payload, next): void => {
        let result: unknown;
        try {
          result = onSend(request, reply, payload, withEtag);
        } catch (error) {
          next(error as Error);
          return;
        }
        next(null, result);
      };
    const withEtag = hook(true);
    const withoutEtag = hook(false);
    // After Fastify's HEAD hook, which sets Content-Length from the (emptied) payload: a 304
    // must not say 0 bytes (RFC 9110 §8.6).
    const headNotModified: onSendHookHandler = (_request, reply, payload, next): void => {
      if (reply.statusCode === 304) reply.removeHeader('content-length');
      next(null, payload);
    };
    // A hook per route, not one on the instance, so a route can go without it entirely. First
    // among the route's own: it sees the payload as the handler left it (Fastify's HEAD route
    // adds a hook that empties it).
    app.addHook('onRoute', (route: RouteOptions) => {
      if (route.config?.hotpathCompression === false) return;
      const methods = [route.method].flat();
      const chosen =
        etag && methods.some((m) => m === 'GET' || m === 'HEAD') ? withEtag : withoutEtag;
      const hooks = route.onSend === undefined ? [] : [route.onSend].flat();
      if (hooks.includes(withEtag) || hooks.includes(withoutEtag)) return;
      route.onSend =
        chosen === withEtag && methods.includes('HEAD')
          ? [chosen, ...hooks, headNotModified]
          : [chosen, ...hooks];
    });
    done();
  },
  {
    [Symbol.for('skip-override')]: true,
    [Symbol.for('fastify.display-name')]: 'hotpath-compression',
  },
);

interface Memo {
  etag?: string;
  gzip?: Buffer;
  br?: Buffer;
}

function memoOf(
  memo: WeakMap<Buffer, Memo> | undefined,
  payload: string | Buffer,
): Memo | undefined {
  if (memo === undefined || typeof payload === 'string') return undefined;
  let entry = memo.get(payload);
  if (entry === undefined) {
    entry = {};
    memo.set(payload, entry);
  }
  return entry;
}

interface Settings {
  minBytes: number;
  gzipLevel: number;
  brotliQuality: number;
  encodings: readonly Encoding[];
  isCompressible: (contentType: string) => boolean;
  etag: boolean;
}

function checkOptions(options: FastifyCompressionOptions): Settings {
  const minBytes = checkNumber('minBytes', options.minBytes ?? 1024, { min: 0 });
  const gzipLevel = checkNumber('gzipLevel', options.gzipLevel ?? 1, {
    min: 1,
    max: 9,
    integer: true,
  });
  const brotliQuality = checkNumber('brotliQuality', options.brotliQuality ?? 4, {
    min: 0,
    max: 11,
    integer: true,
  });
  const encodings = options.encodings ?? ['gzip', 'br'];
  if (
    !Array.isArray(encodings) ||
    encodings.length === 0 ||
    encodings.some((e) => e !== 'gzip' && e !== 'br')
  ) {
    throw new InvalidOptionError('encodings', "expected a non-empty list of 'gzip' and 'br'");
  }
  const filter = options.contentType ?? COMPRESSIBLE;
  const isCompressible =
    typeof filter === 'function' ? filter : (type: string) => filter.test(type);
  const etag = options.etag ?? true;
  return { minBytes, gzipLevel, brotliQuality, encodings, isCompressible, etag };
}

function isReadable(payload: unknown): payload is Readable {
  return (
    typeof payload === 'object' &&
    payload !== null &&
    typeof (payload as { pipe?: unknown }).pipe === 'function'
  );
}

function addVary(reply: FastifyReply): void {
  const vary = reply.getHeader('vary');
  if (vary === undefined) {
    reply.header('vary', 'Accept-Encoding');
    return;
  }
  const text = Array.isArray(vary) ? vary.join(', ') : String(vary);
  if (text.trim() === '*' || /(?:^|,)\s*accept-encoding\s*(?:,|$)/i.test(text)) return;
  reply.header('vary', `${text}, Accept-Encoding`);
}
