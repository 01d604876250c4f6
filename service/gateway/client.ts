/**
 * The service's client of the payment gateway: one undici keep-alive pool, a timeout on every
 * attempt, and retries with exponential backoff and jitter. Retrying a charge is safe because
 * the gateway is idempotent by payment id. When every attempt fails, the client asks the
 * gateway once whether the charge exists (an attempt may have timed out after the charge was
 * made) and otherwise reports `failed`: every payment ends in a definite state.
 */
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

class RetryableError extends Error {}

export class GatewayClient {
  readonly #pool: Pool;
  readonly #timeoutMs: number;
  readonly #retries: number;
  readonly #backoffMs: number;

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
  }

  /** Charges the gateway; never throws: failures become a `failed` outcome with a reason. */
  async charge(request: ChargeRequest): Promise<ChargeOutcome> {
    let lastReason = 'gateway_unavailable';
    for (let attempt = 0; attempt <= this.#retries; attempt++) {
      if (attempt > 0) await this.#backoff(attempt);
      try {
        const body = await this.#request('POST', '/v1/charges', request);
        if (body === undefined) throw new RetryableError('gateway_unavailable');
        return toOutcome(body);
      } catch (error) {
        lastReason = error instanceof RetryableError ? error.message : reasonOf(error);
        // The gateway refused the request itself (4xx): sending it again changes nothing.
        if (lastReason.startsWith('gateway_rejected_'))
          return { status: 'failed', reason: lastReason };
      }
    }
    // Every attempt failed; one may still have charged before timing out. Ask once.
    try {
      const existing = await this.#request('GET', `/v1/charges/${encodeURIComponent(request.id)}`);
      if (existing !== undefined) return toOutcome(existing);
    } catch {
      // The gateway is unreachable: the charge is reported failed below.
    }
    return { status: 'failed', reason: lastReason };
  }

  /** Is the gateway answering? For readiness checks. */
  async ping(): Promise<boolean> {
    try {
      const { statusCode, body } = await this.#pool.request({
        method: 'GET',
        path: '/health',
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
      await body.dump();
      return statusCode === 200;
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    await this.#pool.close();
  }

  /** Resolves to the JSON body of a 200, `undefined` for a 404; throws RetryableError on 5xx. */
  async #request(
    method: 'GET' | 'POST',
    path: string,
    payload?: unknown,
  ): Promise<ChargeBody | undefined> {
    const { statusCode, body } = await this.#pool.request({
      method,
      path,
      headers: payload === undefined ? {} : { 'content-type': 'application/json' },
      ...(payload === undefined ? {} : { body: JSON.stringify(payload) }),
      signal: AbortSignal.timeout(this.#timeoutMs),
    });
    if (statusCode === 200) return (await body.json()) as ChargeBody;
    await body.dump();
    if (statusCode === 404) return undefined;
    if (statusCode >= 500) throw new RetryableError('gateway_unavailable');
    throw new Error(`gateway_rejected_${statusCode}`);
  }

  #backoff(attempt: number): Promise<void> {
    // Full jitter: uniform in [0, base * 2^attempt), so retries of many payments spread out.
    const ms = Math.random() * this.#backoffMs * 2 ** attempt;
    return new Promise((resolve) => setTimeout(resolve, ms));
  }
}

function toOutcome(body: ChargeBody): ChargeOutcome {
  if (body.status === 'authorized')
    return { status: 'authorized', reference: body.reference ?? '' };
  if (body.status === 'declined') return { status: 'declined', reason: body.reason ?? 'declined' };
  return { status: 'failed', reason: 'gateway_bad_response' };
}

function reasonOf(error: unknown): string {
  const e = error as { name?: string; code?: string; message?: string };
  if (
    e.name === 'TimeoutError' ||
    e.code === 'UND_ERR_HEADERS_TIMEOUT' ||
    e.code === 'UND_ERR_BODY_TIMEOUT'
  ) {
    return 'gateway_timeout';
  }
  if (typeof e.message === 'string' && e.message.startsWith('gateway_rejected_')) return e.message;
  return 'gateway_unavailable';
}
