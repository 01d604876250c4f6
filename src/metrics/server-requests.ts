/**
 * Follows the requests of one `node:http` or `node:https` server without touching them:
 * Node publishes each request's start and each response's finish on the diagnostics channels
 * `http.server.request.start` and `http.server.response.finish`; requests wait in one queue
 * per connection, and one `close` listener per connection ends those the client abandoned.
 * Nothing is attached to a request or a response, and no listener is added per request: a
 * response `close` listener alone measured about 1 µs of server CPU per request
 * (bench/metrics/instrumentation.bench.ts).
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/** One request in flight on a followed server. */
export interface ServerRequest<T> {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  /** `performance.now()` when Node had parsed its head. */
  readonly start: number;
  /** The owner's own data about the request (set by a route handler, for example). */
  tag: T | undefined;
}

/** Receives the requests of a followed server. */
export interface ServerRequestsOwner<T> {
  onStart(request: ServerRequest<T>): void;
  /**
   * The response finished, or the connection closed first. `statusCode` is 499 when the
   * response was not ended by then (the client went away).
   */
  onEnd(request: ServerRequest<T>, statusCode: number, durationMs: number): void;
}

/** What Node publishes on both channels. */
interface ChannelMessage {
  request: IncomingMessage;
  response: ServerResponse;
  socket: Socket;
  server: unknown;
}

const START = 'http.server.request.start';
const FINISH = 'http.server.response.finish';
/** A connection, with the queue of its requests in flight under the follower's own key. */
type Tracked = Socket & Record<symbol, ServerRequest<unknown>[] | undefined>;

/** Follows one server's requests until {@link ServerRequests.close}. */
export class ServerRequests<T> {
  readonly #server: Server;
  readonly #owner: ServerRequestsOwner<T>;
  readonly #onStart: (message: unknown) => void;
  readonly #onFinish: (message: unknown) => void;
  /** Key of each connection's queue: one per follower, so two never share a queue. */
  readonly #key = Symbol('hotpath.metrics.requests');
  #isClosed = false;

  constructor(server: Server, owner: ServerRequestsOwner<T>) {
    this.#server = server;
    this.#owner = owner;
    this.#onStart = (message) => {
      const m = message as ChannelMessage;
      if (m.server !== this.#server) return;
      const socket = m.socket as Tracked;
      let queue = socket[this.#key];
      if (queue === undefined) {
        const created: ServerRequest<unknown>[] = [];
        queue = socket[this.#key] = created;
        socket.once('close', () => this.#abandon(created as ServerRequest<T>[]));
      }
      const request: ServerRequest<T> = {
        req: m.request,
        res: m.response,
        start: performance.now(),
        tag: undefined,
      };
      queue.push(request);
      this.#owner.onStart(request);
    };
    this.#onFinish = (message) => {
      const m = message as ChannelMessage;
      if (m.server !== this.#server) return;
      const queue = (m.socket as Tracked)[this.#key] as ServerRequest<T>[] | undefined;
      if (queue === undefined || queue.length === 0) return;
      // HTTP/1.1 answers in order, so it is the oldest; look further only to be safe.
      let i = 0;
      while (i < queue.length && queue[i]!.req !== m.request) i++;
      if (i === queue.length) return;
      const request = i === 0 ? queue.shift()! : queue.splice(i, 1)[0]!;
      this.#owner.onEnd(request, m.response.statusCode, performance.now() - request.start);
    };
    subscribe(START, this.#onStart);
    subscribe(FINISH, this.#onFinish);
  }

  /** The followed request `req` belongs to, if it is in flight on this server. */
  find(req: IncomingMessage): ServerRequest<T> | undefined {
    const queue = (req.socket as Tracked | null)?.[this.#key] as ServerRequest<T>[] | undefined;
    if (queue === undefined) return undefined;
    for (const request of queue) if (request.req === req) return request;
    return undefined;
  }

  /** Stops following (requests in flight are no longer reported). */
  close(): void {
    if (this.#isClosed) return;
    this.#isClosed = true;
    unsubscribe(START, this.#onStart);
    unsubscribe(FINISH, this.#onFinish);
  }

  #abandon(queue: ServerRequest<T>[]): void {
    if (this.#isClosed) return;
    const now = performance.now();
    for (const request of queue.splice(0)) {
      const status = request.res.writableEnded ? request.res.statusCode : 499;
      this.#owner.onEnd(request, status, now - request.start);
    }
  }
}
