import { Agent, buildConnector, type Dispatcher } from 'undici';
import { InvalidOptionError } from '../errors/index.js';
import { monotonicClock, type Clock } from '../internal/clock.js';
import { checkNumber } from '../internal/validate-options.js';
import type { MetricsRegistry } from '../metrics/index.js';
import type { PolicyLike } from '../resilience/index.js';
import { ClientMetrics } from './client-metrics.js';

/** Options of {@link HttpClient}. */
export interface HttpClientOptions {
  /**
   * Origin (`http://host:port`) of requests that name none. Without it every request must
   * give its `origin`.
   */
  origin?: string | URL;
  /**
   * Keep-alive connections per origin at most; requests beyond them wait in the pool's queue
   * (the `queue_wait` metric).
   * @defaultValue 16
   */
  connections?: number;
  /**
   * Requests sent on one connection before their responses (HTTP/1.1 pipelining); 1 is off.
   * @defaultValue 1
   */
  pipelining?: number;
  /** Longest time to open a connection, in ms. @defaultValue 10000 */
  connectTimeoutMs?: number;
  /** Longest time from the request written to the response headers, in ms; 0 is none. @defaultValue 30000 */
  headersTimeoutMs?: number;
  /** Longest silence between two chunks of the response body, in ms; 0 is none. @defaultValue 30000 */
  bodyTimeoutMs?: number;
  /** How long an idle connection is kept open, in ms (a server's `Keep-Alive: timeout` wins). @defaultValue 4000 */
  keepAliveTimeoutMs?: number;
  /**
   * Records the per-origin metrics (connect time, queue wait, time to first byte, statuses,
   * in flight) here. Without it the client adds nothing to undici's request path.
   */
  registry?: MetricsRegistry;
  /**
   * Runs every request under this policy: a `wrap(...)` of hotpath/resilience, or any object
   * with `execute(fn, signal?)`. The policy's signal (its timeout, the caller's signal) is
   * handed to undici. A retrying policy re-sends the request, so give it a body that can be
   * sent twice (a string or a Buffer, not a stream).
   */
  policy?: PolicyLike;
  /** Clock for the metrics, in ms. @defaultValue `performance.now()` */
  clock?: Clock;
}

/** One request: undici's `request()` options, with the client's timeouts in ms. */
export type HttpRequestOptions = Omit<
  Dispatcher.RequestOptions,
  'origin' | 'headersTimeout' | 'bodyTimeout'
> & {
  /** Overrides the client's `origin`. */
  origin?: string | URL;
  /** Overrides the client's `headersTimeoutMs`. */
  headersTimeoutMs?: number;
  /** Overrides the client's `bodyTimeoutMs`. */
  bodyTimeoutMs?: number;
};

/** What a request resolves with: undici's response (status, headers, body stream). */
export type HttpResponse = Dispatcher.ResponseData;

/**
 * A pooled keep-alive HTTP/1.1 client on undici's `Agent` (one `Pool` per origin), with
 * timeouts, an optional resilience policy and per-origin metrics.
 *
 * Errors are undici's, matched on `code`: `UND_ERR_CONNECT_TIMEOUT`, `UND_ERR_HEADERS_TIMEOUT`,
 * `UND_ERR_BODY_TIMEOUT`, `UND_ERR_SOCKET`, `UND_ERR_ABORTED`; or the policy's own
 * (`HP_ERR_TIMEOUT`, `HP_ERR_CIRCUIT_OPEN`...). A response of any status resolves: read or
 * dump its body, or the connection is not reused.
 *
 * @example
 * ```ts
 * const client = new HttpClient({ origin: 'http://127.0.0.1:4000', registry });
 * const res = await client.request({ method: 'GET', path: '/health' });
 * const body = await res.body.json();
 * await client.close();
 * ```
 */
export class HttpClient {
  #agent: Agent;
  /** The registry the metrics go to, if any. */
  #registry: MetricsRegistry | undefined;
  #closed = false;
  /** Agents replaced by {@link HttpClient.registerMetrics}, closing. */
  readonly #retired: Promise<void>[] = [];
  readonly #connector: buildConnector.connector;
  readonly #clock: Clock;
  readonly #agentOptions: Pick<Agent.Options, 'connections' | 'pipelining' | 'keepAliveTimeout'>;
  readonly #origin: string | undefined;
  readonly #headersTimeoutMs: number;
  readonly #bodyTimeoutMs: number;
  readonly #policy: PolicyLike | undefined;

  /** @throws {@link InvalidOptionError} `HP_ERR_INVALID_OPTION` on a bad option. */
  constructor(options: HttpClientOptions = {}) {
    this.#origin = options.origin === undefined ? undefined : originOf('origin', options.origin);
    const connections = checkNumber('connections', options.connections ?? 16, {
      min: 1,
      integer: true,
    });
    const pipelining = checkNumber('pipelining', options.pipelining ?? 1, {
      min: 1,
      integer: true,
    });
    const connectTimeoutMs = checkNumber('connectTimeoutMs', options.connectTimeoutMs ?? 10_000, {
      min: 1,
    });
    this.#headersTimeoutMs = checkNumber('headersTimeoutMs', options.headersTimeoutMs ?? 30_000, {
      min: 0,
    });
    this.#bodyTimeoutMs = checkNumber('bodyTimeoutMs', options.bodyTimeoutMs ?? 30_000, {
      min: 0,
    });
    const keepAliveTimeout = checkNumber('keepAliveTimeoutMs', options.keepAliveTimeoutMs ?? 4000, {
      min: 1,
    });
    if (
      options.policy !== undefined &&
      typeof (options.policy as Partial<PolicyLike> | null)?.execute !== 'function'
    ) {
      throw new InvalidOptionError('policy', 'expected an object with execute(fn, signal?)');
    }
    this.#policy = options.policy;

    this.#connector = buildConnector({ timeout: connectTimeoutMs });
    this.#clock = options.clock ?? monotonicClock;
    this.#agentOptions = { connections, pipelining, keepAliveTimeout };
    this.#agent = this.#buildAgent(options.registry);
    this.#registry = options.registry;
  }

  /**
   * Records the per-origin metrics into `registry` from now on: for a client made before its
   * registry exists (a service's dependencies are often built before its app). A client that
   * already records into another registry moves to this one (an app built again around the
   * same client); the same registry again changes nothing. Requests in flight finish on the
   * previous connections, which then close; later requests open new ones, so connect time and
   * connections count from here.
   * @throws {@link InvalidOptionError} `HP_ERR_INVALID_OPTION` after `close()`.
   */
  registerMetrics(registry: MetricsRegistry): void {
    if (this.#closed) throw new InvalidOptionError('registry', 'the client is closed');
    if (this.#registry === registry) return;
    const previous = this.#agent;
    this.#agent = this.#buildAgent(registry);
    this.#registry = registry;
    this.#retired.push(previous.close());
  }

  #buildAgent(registry: MetricsRegistry | undefined): Agent {
    const connector = this.#connector;
    const clock = this.#clock;
    const metrics = registry === undefined ? undefined : new ClientMetrics(registry, clock);
    const agentOptions: Agent.Options = {
      ...this.#agentOptions,
      connect:
        metrics === undefined
          ? connector
          : (opts, callback) => {
              const start = clock.now();
              connector(opts, (...args) => {
                if (args[0] === null) {
                  const series = metrics.origin(`${opts.protocol}//${opts.host ?? opts.hostname}`);
                  series.connect.record((clock.now() - start) * 1000);
                  series.connections.inc();
                }
                callback(...args);
              });
            },
    };
    // No registry, no wrapper: the bare Agent is what requests go through.
    return metrics === undefined
      ? new Agent(agentOptions)
      : new MeasuredAgent(agentOptions, metrics);
  }

  /**
   * Sends a request and resolves at the response headers.
   * @throws undici's errors (by `code`), `HP_ERR_ABORTED` when `signal` aborts under a
   *   policy, or the policy's errors.
   */
  request(options: HttpRequestOptions): Promise<HttpResponse> {
    const policy = this.#policy;
    if (policy === undefined) return this.#send(options, options.signal);
    return policy.execute(
      (arg) => this.#send(options, signalOf(arg) ?? options.signal),
      toAbortSignal(options.signal),
    );
  }

  /** Waits for requests in flight, then closes every connection. */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all([this.#agent.close(), ...this.#retired]);
  }

  #send(
    options: HttpRequestOptions,
    signal: HttpRequestOptions['signal'] | undefined,
  ): Promise<HttpResponse> {
    const origin = options.origin;
    const target = origin === undefined ? this.#origin : originOf('origin', origin);
    if (target === undefined) {
      return Promise.reject(
        new InvalidOptionError('origin', 'the request and the client both name no origin'),
      );
    }
    // A spread of the caller's object takes V8's fast clone; a rest pattern leaving out the
    // ms-named keys did not (4.8% of the client's CPU in a profile of client.bench.ts). undici
    // ignores the keys it does not know.
    return this.#agent.request({
      ...options,
      origin: target,
      signal,
      headersTimeout: options.headersTimeoutMs ?? this.#headersTimeoutMs,
      bodyTimeout: options.bodyTimeoutMs ?? this.#bodyTimeoutMs,
    } as Dispatcher.RequestOptions);
  }
}

function originOf(option: string, value: string | URL): string {
  try {
    return new URL(value).origin;
  } catch (error) {
    throw new InvalidOptionError(option, `expected an absolute URL, got ${String(value)}`, {
      cause: error,
    });
  }
}

/** A policy hands its fn a context (hotpath's), a signal (a bulkhead's) or nothing. */
function signalOf(arg: unknown): AbortSignal | undefined {
  if (arg instanceof AbortSignal) return arg;
  if (typeof arg === 'object' && arg !== null && 'signal' in arg) {
    const signal = (arg as { signal: unknown }).signal;
    if (signal instanceof AbortSignal) return signal;
  }
  return undefined;
}

function toAbortSignal(signal: HttpRequestOptions['signal']): AbortSignal | undefined {
  return signal instanceof AbortSignal ? signal : undefined;
}

/** An Agent whose every request records into the client's metrics. */
class MeasuredAgent extends Agent {
  readonly #metrics: ClientMetrics;

  constructor(options: Agent.Options, metrics: ClientMetrics) {
    super(options);
    this.#metrics = metrics;
  }

  override dispatch(
    options: Dispatcher.DispatchOptions,
    handler: Dispatcher.DispatchHandler,
  ): boolean {
    return super.dispatch(options, this.#metrics.wrap(String(options.origin), handler));
  }
}
