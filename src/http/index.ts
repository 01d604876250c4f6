/**
 * @module hotpath/http
 * HTTP on both sides of a service. {@link HttpClient}: a pooled keep-alive client on undici's
 * `Agent` with connect, headers and body timeouts, an optional resilience policy and
 * per-origin metrics (connect time, queue wait, time to first byte, statuses, in flight) that
 * cost nothing unless a registry is given. {@link fastifyCompression}: response compression
 * with a size threshold and a content-type filter (stream bodies through a zlib stream,
 * flushed whenever the route's stream pauses), `Accept-Encoding` negotiation with q-values,
 * and weak ETags with `304 Not Modified`.
 *
 * It does not do HTTP/2, cookies, redirects or caching of responses on the client, nor put
 * ETags on streamed response bodies.
 */
export { HttpClient } from './client.js';
export type { HttpClientOptions, HttpRequestOptions, HttpResponse } from './client.js';
export { fastifyCompression } from './compression-plugin.js';
export type { FastifyCompressionOptions } from './compression-plugin.js';
export { negotiateEncoding } from './accept-encoding.js';
export type { Encoding } from './accept-encoding.js';
export { weakEtag, etagMatches } from './etag.js';
