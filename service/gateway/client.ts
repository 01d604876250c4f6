/**
 * The service's client of the payment gateway: one undici keep-alive pool behind hotpath's
 * resilience policies, outermost first:
 *
 *   bulkhead (bounded concurrent charges) -> retry (backoff + full jitter)
 *     -> circuit breaker (fail fast while the gateway is down) -> timeout per attempt
 *
 * Retrying a charge is safe because the gateway is idempotent by payment id. When every
 * attempt fails after at least one was sent, the client asks the gateway once whether the
 * charge exists (an attempt may have timed out after the charge was made) and otherwise
 * reports `failed`: every payment ends in a definite state.
 */
import {
  Bulkhead,
  BulkheadFullError,
  CircuitBreaker,
  CircuitOpenError,
  TimeoutError,
  retry,
  withTimeout,
  type CircuitState,
} from 'hotpath/resilience';
import { Pool } from 'undici';

export interface GatewayClientOptions {
  url: string;
  /** Per-attempt timeout. Default 2,000 ms. */
  timeoutMs?: number;
  /** Retries after the first attempt. Default 2. */
  retries?: number;
  /** Base of the exponential backoff between attempts. Default 50 ms. */
  backoffMs?: number;
  /** Keep-alive connections to the gateway. Default 64. */
  connections?: number;
  /** Charges in flight at once; more wait in a queue of 4x this, then fail. Default 256. */
  maxConcurrent?: number;
  /** Breaker: failure rate over the last 20 attempts that opens it. Default 0.5. */
  breakerFailureRate?: number;
  /** Breaker: how long it stays open before a trial. Default 5,000 ms. */
  breakerOpenMs?: number;
}

export interface GatewayStats {
  circuit: CircuitState;
  /** Failure rate of the breaker's window of recent attempts. */
  failureRate: number;
  /** Charges in flight and waiting in the bulkhead. */
  running: number;
  queued: number;
}

export interface ChargeRequest {
  id: string;
  amount: number;
  currency: string;
}

export type ChargeOutcome =
  | { status: 'authorized'; reference: string }
  | { status: 'declined'; reason: string }
  | { status: 'failed'; reason: string };

interface ChargeBody {
  status?: string;
  reference?: string;
  reason?: string;
}

/** The gateway answered but could not take the request now (5xx): worth another attempt. */
class GatewayUnavailableError extends Error {}
/** The gateway refused the request itself (4xx): sending it again changes nothing. */
class GatewayRejectedError extends Error {}

const isTransient = (error: unknown) => !(error instanceof GatewayRejectedError);

export class GatewayClient {
  readonly #pool: Pool;
  readonly #timeoutMs: number;
  readonly #retries: number;
  readonly #backoffMs: number;
  readonly #breaker: CircuitBreaker;
  readonly #bulkhead: Bulkhead;

  constructor(options: GatewayClientOptions) {
    this.#timeoutMs = options.timeoutMs ?? 2000;
    this.#retries = options.retries ?? 2;
    this.#backoffMs = options.backoffMs ?? 50;
    this.#pool = new Pool(options.url, {
      connections: options.connections ?? 64,
      keepAliveTimeout: 30_000,
      headersTimeout: this.#timeoutMs,
      bodyTimeout: this.#timeoutMs,
    });
    this.#breaker = new CircuitBreaker({
      name: 'gateway',
      windowSize: 20,
      minimumCalls: 10,
      failureRateThreshold: options.breakerFailureRate ?? 0.5,
      openMs: options.breakerOpenMs ?? 5000,
      isFailure: isTransient,
    });
    const maxConcurrent = options.maxConcurrent ?? 256;
    this.#bulkhead = new Bulkhead({ maxConcurrent, maxQueue: maxConcurrent * 4 });
  }

  /** The circuit's state and the bulkhead's load, for the dashboard and metrics. */
  get stats(): GatewayStats {
    return {
      circuit: this.#breaker.state,
      failureRate: this.#breaker.failureRate,
      running: this.#bulkhead.running,
      queued: this.#bulkhead.queued,
    };
  }

  /** Charges the gateway; never throws: failures become a `failed` outcome with a reason. */
  async charge(request: ChargeRequest): Promise<ChargeOutcome> {
    let sent = false;
    try {
      const body = await this.#bulkhead.execute(() =>
        retry(
          () =>
            this.#breaker.execute(() => {
              sent = true;
              return withTimeout(
                (signal) => this.#request('POST', '/v1/charges', signal, request),
                this.#timeoutMs,
              );
            }),
          {
            retries: this.#retries,
            baseMs: this.#backoffMs,
            shouldRetry: (error) => isTransient(error) && !(error instanceof CircuitOpenError),
          },
        ),
      );
      if (body === undefined) return { status: 'failed', reason: 'gateway_bad_response' };
      return toOutcome(body);
    } catch (error) {
      const reason = reasonOf(error);
      if (!sent || error instanceof GatewayRejectedError) return { status: 'failed', reason };
      return this.#lookup(request.id, reason);
    }
  }

  /** After failed attempts: did one of them charge before it failed? Ask once. */
  async #lookup(id: string, reason: string): Promise<ChargeOutcome> {
    try {
      const existing = await withTimeout(
        (signal) => this.#request('GET', `/v1/charges/${encodeURIComponent(id)}`, signal),
        this.#timeoutMs,
      );
      if (existing !== undefined) return toOutcome(existing);
    } catch {
      // The gateway is unreachable: the charge is reported failed below.
    }
    return { status: 'failed', reason };
  }

  async close(): Promise<void> {
    await this.#pool.close();
  }

  /** Resolves to the JSON body of a 200, `undefined` for a 404. */
  async #request(
    method: 'GET' | 'POST',
    path: string,
    signal: AbortSignal,
    payload?: unknown,
  ): Promise<ChargeBody | undefined> {
    const { statusCode, body } = await this.#pool.request({
      method,
      path,
      headers: payload === undefined ? {} : { 'content-type': 'application/json' },
      ...(payload === undefined ? {} : { body: JSON.stringify(payload) }),
      signal,
    });
    if (statusCode === 200) return (await body.json()) as ChargeBody;
    await body.dump();
    if (statusCode === 404) return undefined;
    if (statusCode >= 500) throw new GatewayUnavailableError(`gateway answered ${statusCode}`);
    throw new GatewayRejectedError(`gateway_rejected_${statusCode}`);
  }
}

function toOutcome(body: ChargeBody): ChargeOutcome {
  if (body.status === 'authorized')
    return { status: 'authorized', reference: body.reference ?? '' };
  if (body.status === 'declined') return { status: 'declined', reason: body.reason ?? 'declined' };
  return { status: 'failed', reason: 'gateway_bad_response' };
}

function reasonOf(error: unknown): string {
  if (error instanceof CircuitOpenError) return 'gateway_circuit_open';
  if (error instanceof BulkheadFullError) return 'gateway_busy';
  if (error instanceof GatewayRejectedError) return error.message;
  if (error instanceof TimeoutError) return 'gateway_timeout';
  const e = error as { code?: string };
  if (e.code === 'UND_ERR_HEADERS_TIMEOUT' || e.code === 'UND_ERR_BODY_TIMEOUT')
    return 'gateway_timeout';
  return 'gateway_unavailable';
}
