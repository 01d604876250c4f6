/**
 * The service's HTTP server (Fastify's `serverFactory`): bounds on how long a request may
 * take to arrive, and JSON 503 answers once shutdown began.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { RETRY_AFTER_SECONDS } from './http-errors.js';

/** Options of {@link httpServerFactory}. */
export interface HttpServerOptions {
  /**
   * Longest time to receive a whole request, headers and body, in milliseconds: a client
   * that sends slower is answered 408 and disconnected.
   */
  requestTimeoutMs: number;
  /** True once shutdown began: new requests are answered 503 without reaching a route. */
  isClosing: () => boolean;
}

/** Fastify's default: longer than the 60 s idle timeout of common load balancers. */
const KEEP_ALIVE_TIMEOUT_MS = 72_000;

const CLOSING_BODY = JSON.stringify({
  code: 'SERVICE_UNAVAILABLE',
  message: 'the service is shutting down',
});

/**
 * A `serverFactory` for Fastify. Node checks request deadlines on an interval (30 s by
 * default, which would let a slow client hold a socket up to 30 s past its deadline); here
 * the interval is a quarter of the deadline, between 100 ms and 5 s. There is no idle
 * timeout on connections (`connectionTimeout`): the dashboard's event stream and a 60 s
 * profile are quiet for long stretches, and idle keep-alive sockets close after 72 s anyway.
 * Requests that arrive while closing get `{ code: 'SERVICE_UNAVAILABLE', message }` instead
 * of Fastify's own 503 body.
 */
export function httpServerFactory(options: HttpServerOptions) {
  const { requestTimeoutMs, isClosing } = options;
  return (handler: (req: IncomingMessage, res: ServerResponse) => void): Server => {
    const server = createServer(
      {
        requestTimeout: requestTimeoutMs,
        // Node requires headersTimeout <= requestTimeout; both run from the request's start.
        headersTimeout: requestTimeoutMs,
        connectionsCheckingInterval: Math.min(
          5000,
          Math.max(100, Math.floor(requestTimeoutMs / 4)),
        ),
      },
      (req, res) => {
        if (!isClosing()) {
          handler(req, res);
          return;
        }
        res.writeHead(503, {
          'content-type': 'application/json; charset=utf-8',
          'content-length': Buffer.byteLength(CLOSING_BODY),
          'retry-after': String(RETRY_AFTER_SECONDS),
          connection: 'close',
        });
        res.end(CLOSING_BODY);
      },
    );
    server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
    return server;
  };
}
