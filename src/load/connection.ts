/**
 * One keep-alive HTTP/1.1 connection over a raw TCP or TLS socket. Requests are pre-encoded
 * buffers; responses are parsed by {@link ResponseParser}. Several requests may be in flight
 * (pipelining); they are answered in order. The connection reports each outcome to its owner
 * through plain callbacks (no promise per request: this is the generator's hot path).
 */
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { ResponseParser } from './response-parser.js';

/** Size of each plain-TCP connection's reusable read buffer. */
const READ_BUFFER_BYTES = 64 * 1024;

/** Where requests go. */
export interface Target {
  host: string;
  port: number;
  isTls: boolean;
  /** Check the server's certificate (HTTPS). */
  rejectUnauthorized: boolean;
}

/** How a request failed. */
export type FailureKind = 'connect' | 'timeout' | 'reset';

/**
 * Receives a connection's outcomes. Times are `performance.now()` milliseconds; `request` is
 * the request's bytes as written, `body` the response body when the connection captures bodies.
 */
export interface ConnectionOwner {
  onResponse(
    conn: Connection,
    intended: number,
    sent: number,
    status: number,
    bytes: number,
    request: Buffer,
    body: Buffer | null,
    entry: number,
  ): void;
  onFailure(
    conn: Connection,
    kind: FailureKind,
    intended: number,
    sent: number,
    request: Buffer,
    entry: number,
  ): void;
  /** The connection closed; it takes no more requests. */
  onClose(conn: Connection): void;
}

/** A request on the wire: its intended and actual send times. */
interface Inflight {
  intended: number;
  sent: number;
  isHead: boolean;
  request: Buffer;
  /** The request-mix entry it came from. */
  entry: number;
  /** Whether its response body is needed (a JSON check). */
  needsBody: boolean;
}

/** A keep-alive connection; create with {@link Connection.open}. */
export class Connection {
  readonly #owner: ConnectionOwner;
  readonly #socket: Socket;
  readonly #parser: ResponseParser;
  #inflight: Inflight[] = [];
  #isConnected = false;
  #isClosed = false;
  #failKind: FailureKind | null = null;
  /** Bytes written to the socket. */
  bytesWritten = 0;
  /** Free slot for the owner (index in its pool). */
  slot = -1;

  private constructor(target: Target, owner: ConnectionOwner, captureBodies: boolean) {
    this.#owner = owner;
    this.#parser = new ResponseParser((status, bytes, shouldClose, body) => {
      const req = this.#inflight.shift();
      if (req === undefined) return;
      this.#owner.onResponse(
        this,
        req.intended,
        req.sent,
        status,
        bytes,
        req.request,
        body,
        req.entry,
      );
      if (shouldClose) this.#destroy('reset');
    });
    this.#parser.expectNoBody = () => this.#inflight[0]?.isHead ?? false;
    this.#parser.captureBody = captureBodies;
    this.#parser.shouldCaptureBody = () => this.#inflight[0]?.needsBody ?? false;
    const onData = (chunk: Buffer) => {
      try {
        this.#parser.execute(chunk);
      } catch {
        this.#destroy('reset');
      }
    };
    const socket = target.isTls
      ? tlsConnect({
          host: target.host,
          port: target.port,
          servername: isIp(target.host) ? undefined : target.host,
          rejectUnauthorized: target.rejectUnauthorized,
          ALPNProtocols: ['http/1.1'],
        })
      : netConnect({
          host: target.host,
          port: target.port,
          // Reads land in one reused buffer and skip the readable-stream machinery: the
          // parser copies only a partial response head (bench/load/generators.bench.ts).
          onread: {
            buffer: Buffer.allocUnsafe(READ_BUFFER_BYTES),
            callback: (n: number, buf: Buffer) => {
              onData(buf.subarray(0, n));
              return true;
            },
          },
        });
    this.#socket = socket;
    socket.setNoDelay(true);
    socket.once(target.isTls ? 'secureConnect' : 'connect', () => {
      this.#isConnected = true;
    });
    if (target.isTls) socket.on('data', onData);
    socket.on('end', () => {
      this.#parser.end();
      this.#destroy('reset');
    });
    socket.on('error', () => this.#destroy(this.#isConnected ? 'reset' : 'connect'));
    socket.on('close', () => this.#destroy(this.#isConnected ? 'reset' : 'connect'));
  }

  /**
   * Opens a connection to `target` (connecting in the background; requests may be sent at
   * once). With `captureBodies`, each response's body is handed to the owner.
   */
  static open(target: Target, owner: ConnectionOwner, captureBodies = false): Connection {
    return new Connection(target, owner, captureBodies);
  }

  /** Requests written and not yet answered. */
  get inflight(): number {
    return this.#inflight.length;
  }

  /** Whether the connection has closed (it accepts no requests). */
  get isClosed(): boolean {
    return this.#isClosed;
  }

  /** Whether TCP (and TLS) setup has finished. */
  get isConnected(): boolean {
    return this.#isConnected;
  }

  /** Actual send time of the oldest unanswered request, or Infinity. */
  get oldestSent(): number {
    return this.#inflight[0]?.sent ?? Infinity;
  }

  /**
   * Writes one request. `intended` is when the schedule wanted it sent; `entry` is its
   * request-mix entry, reported back with its outcome; `needsBody` keeps its response body.
   */
  send(
    request: Buffer,
    intended: number,
    now: number,
    isHead = false,
    entry = 0,
    needsBody = false,
  ): void {
    // Sent ahead of schedule (by at most a timer tick): time it from the actual send.
    this.#inflight.push({
      intended: Math.min(intended, now),
      sent: now,
      isHead,
      request,
      entry,
      needsBody,
    });
    this.bytesWritten += request.length;
    this.#socket.write(request);
  }

  /** Fails every unanswered request with `kind` and closes the socket. */
  abort(kind: FailureKind): void {
    this.#destroy(kind);
  }

  /** Closes the socket; unanswered requests are dropped without being reported. */
  close(): void {
    this.#inflight = [];
    this.#destroy('reset');
  }

  #destroy(kind: FailureKind): void {
    if (this.#isClosed) return;
    this.#isClosed = true;
    this.#failKind = kind;
    this.#socket.destroy();
    const pending = this.#inflight;
    this.#inflight = [];
    for (const req of pending)
      this.#owner.onFailure(this, this.#failKind, req.intended, req.sent, req.request, req.entry);
    this.#owner.onClose(this);
  }
}

function isIp(host: string): boolean {
  return /^[\d.]+$/.test(host) || host.includes(':');
}
