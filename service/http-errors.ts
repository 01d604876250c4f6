/**
 * How every failure becomes an answer `{ code, message }` with the status of the code table
 * in errors.ts: errors thrown by handlers and Fastify, URLs the router cannot decode, a
 * method a known path does not serve (405 with `Allow`), and requests Node's HTTP parser
 * refuses before Fastify sees them (malformed, headers too large, not received in time).
 */
import { maxHeaderSize, STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type {
  FastifyError,
  FastifyInstance,
  FastifyReply,
  FastifyRequest,
  HTTPMethods,
} from 'fastify';
import { isDatabaseUnavailable } from './database-unavailable.js';
import {
  ApiError,
  type ApiErrorCode,
  codeByClientStatus,
  fastifyCodes,
  statusByCode,
} from './errors.js';

/** Seconds a client is told to wait (`Retry-After`) when the service answers 503. */
export const RETRY_AFTER_SECONDS = 2;

/** Methods a 405's `Allow` may list: those the service's routes use, HEAD with each GET. */
const METHODS: readonly HTTPMethods[] = [
  'GET',
  'HEAD',
  'POST',
  'PUT',
  'PATCH',
  'DELETE',
  'OPTIONS',
];

function send(reply: FastifyReply, code: ApiErrorCode, message: string): FastifyReply {
  const status = statusByCode[code];
  if (status === 503) void reply.header('retry-after', String(RETRY_AFTER_SECONDS));
  return reply.code(status).send({ code, message });
}

/**
 * A 4xx Fastify gave the error: the client's fault, whatever lies beneath (a client that
 * went away mid-body is an ECONNRESET marked 400, not a database outage).
 */
function isClientStatus(status: unknown): status is number {
  return typeof status === 'number' && status >= 400 && status < 500;
}

/** The code and message for an error that is not a bug, or undefined for one that is. */
function clientFault(error: FastifyError): { code: ApiErrorCode; message: string } | undefined {
  if (error instanceof ApiError) return { code: error.code, message: error.message };
  if (error.validation !== undefined) return { code: 'VALIDATION_FAILED', message: error.message };
  const mapped = error.code === undefined ? undefined : fastifyCodes[error.code];
  if (mapped === 'UNSUPPORTED_MEDIA_TYPE') {
    return { code: mapped, message: 'Content-Type must be application/json' };
  }
  if (mapped !== undefined) return { code: mapped, message: error.message };
  // A 4xx Fastify or a plugin raised with no code of ours: the client's fault, not a bug.
  const status = error.statusCode;
  if (isClientStatus(status)) {
    return { code: codeByClientStatus[status] ?? 'BAD_REQUEST', message: error.message };
  }
  return undefined;
}

/** Options of {@link errorHandler}. */
export interface ErrorHandlerOptions {
  /** Hears every error answered with 503 DATABASE_UNAVAILABLE (to log it, rate-limited). */
  onDatabaseUnavailable: (error: unknown) => void;
}

/**
 * The app's error handler: the database out of reach is 503 DATABASE_UNAVAILABLE with
 * `Retry-After` (reported to `onDatabaseUnavailable`, not logged per request, also when the
 * payments domain threw it as an {@link ApiError}); an
 * {@link ApiError}, a failed validation or a client error Fastify raised answers its code;
 * anything else is a bug: logged with its stack, answered 500 INTERNAL.
 */
export function errorHandler(options: ErrorHandlerOptions) {
  return (error: FastifyError, request: FastifyRequest, reply: FastifyReply): FastifyReply => {
    if (error instanceof ApiError) {
      // The payments domain may classify an outage itself: it is still one log line per 10 s.
      if (error.code === 'DATABASE_UNAVAILABLE') options.onDatabaseUnavailable(error);
    } else if (!isClientStatus(error.statusCode) && isDatabaseUnavailable(error)) {
      options.onDatabaseUnavailable(error);
      return send(reply, 'DATABASE_UNAVAILABLE', 'the database is unavailable; retry later');
    }
    const fault = clientFault(error);
    if (fault !== undefined) return send(reply, fault.code, fault.message);
    request.log.error({ err: error }, 'unhandled error');
    return send(reply, 'INTERNAL', 'internal error');
  };
}

/**
 * Fastify's `frameworkErrors`: a path that is not valid percent-encoding (400 INVALID_URL)
 * or has a parameter over the router's length limit (414 URI_TOO_LONG), answered before any
 * route runs.
 */
export function frameworkErrors(
  error: FastifyError,
  _request: FastifyRequest,
  reply: FastifyReply,
): void {
  const code = (error.code === undefined ? undefined : fastifyCodes[error.code]) ?? 'BAD_REQUEST';
  const message =
    code === 'INVALID_URL'
      ? 'the path is not valid percent-encoding'
      : code === 'URI_TOO_LONG'
        ? 'a path segment is too long'
        : error.message;
  void send(reply, code, message);
}

/**
 * The not-found handler: 405 METHOD_NOT_ALLOWED with `Allow` when the path is a route for
 * other methods, 404 NOT_FOUND when no route has it.
 */
export function notFoundHandler(app: FastifyInstance) {
  return (request: FastifyRequest, reply: FastifyReply): FastifyReply => {
    const path = request.url.split('?')[0] ?? '/';
    const allowed = METHODS.filter(
      (method) => method !== request.method && app.findRoute({ method, url: path }) !== null,
    );
    if (allowed.length > 0) {
      void reply.header('allow', allowed.join(', '));
      return send(
        reply,
        'METHOD_NOT_ALLOWED',
        `${request.method} is not allowed on ${path}; use ${allowed.join(', ')}`,
      );
    }
    return send(reply, 'NOT_FOUND', `no route ${request.method} ${path}`);
  };
}

/** The code and message for a request Node's HTTP server refused. */
function connectionFault(
  error: Error & { code?: string },
  requestTimeoutMs: number,
): { code: ApiErrorCode; message: string } {
  switch (error.code) {
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return {
        code: 'REQUEST_TIMEOUT',
        message: `the request was not received within ${requestTimeoutMs} ms`,
      };
    case 'HPE_HEADER_OVERFLOW':
      return {
        code: 'HEADER_TOO_LARGE',
        message: `the request headers exceed ${maxHeaderSize} bytes`,
      };
    default:
      return {
        code: 'BAD_REQUEST',
        message: `malformed HTTP request${error.code === undefined ? '' : ` (${error.code})`}`,
      };
  }
}

/**
 * Fastify's `clientErrorHandler` (Node's `clientError`): Node's parser refused the request
 * before Fastify saw it. Answers `{ code, message }` with the status of the code and closes
 * the connection: 408 REQUEST_TIMEOUT past `requestTimeoutMs`, 431 HEADER_TOO_LARGE, 400
 * BAD_REQUEST for anything malformed.
 */
export function clientErrorHandler(requestTimeoutMs: number) {
  return function onClientError(
    this: FastifyInstance,
    error: Error & { code?: string },
    socket: Socket,
  ): void {
    // The peer is gone: nobody to answer (https://nodejs.org/api/http.html#event-clienterror).
    if (error.code === 'ECONNRESET' || socket.destroyed) return;
    const { code, message } = connectionFault(error, requestTimeoutMs);
    this.log.debug({ err: error }, `client error: ${code}`);
    // Node's own rule: answer only if no response on this socket has started, else the bytes
    // would corrupt it.
    const inFlight = (socket as Socket & { _httpMessage?: { headersSent?: boolean } | null })
      ._httpMessage;
    if (socket.writable && inFlight?.headersSent !== true) {
      const status = statusByCode[code];
      const body = JSON.stringify({ code, message });
      socket.write(
        `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n` +
          'Content-Type: application/json; charset=utf-8\r\n' +
          `Content-Length: ${Buffer.byteLength(body)}\r\n` +
          'Connection: close\r\n\r\n' +
          body,
      );
    }
    socket.destroy(error);
  };
}
