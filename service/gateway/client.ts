/**
 * The service's client of the payment gateway: hotpath/http's keep-alive client behind hotpath's
 * resilience policies, composed with `wrap()`, outermost first:
 *
 *   concurrency limit (adaptive: follows the gateway's latency; or a fixed bulkhead)
 *     -> circuit breaker (one outcome per charge, after its retries)
 *     -> retry (backoff + full jitter, within a retry budget) -> timeout per attempt
 *
 * The breaker judges whole charges, not attempts: flakiness that the retries absorb keeps it
 * closed, a dead or stalled gateway (every retry of many charges failing) opens it.
 *
 * Retrying a charge is safe because the gateway is idempotent by payment id. Every outcome
 * says what is known of the money:
 *
 *   authorized, declined   the gateway answered with a final state
 *   failed                 the gateway refused the request itself (a 4xx): nothing charged
 *   not_sent               no attempt left this process (breaker open, bulkhead full)
 *   unknown                an attempt was sent and no answer says what became of it
 *                          (timeout, reset, 5xx): the charge may exist
 */
import {
  Bulkhead,
  BulkheadFullError,
  CircuitBreaker,
  CircuitOpenError,
  ConcurrencyLimitError,
  ConcurrencyLimiter,
  DeadlineExceededError,
  GradientLimit,
  Retry,
  RetryBudget,
  Timeout,
  TimeoutError,
  withTimeout,
  wrap,
  type CircuitState,
  type Policy,
} from 'hotpath/resilience';
import { HttpClient } from 'hotpath/http';
import type { MetricsRegistry } from 'hotpath/metrics';

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
  /**
   * `adaptive` (default): the charges in flight follow the gateway's latency against its best
   * recent latency (a gradient limit between 4 and `maxConcurrent`); `fixed`: a bulkhead of
   * `maxConcurrent`. Either way up to 4x `maxConcurrent` wait, then a charge is not sent.
   */
  limit?: 'adaptive' | 'fixed';
  /** Most charges in flight at once. Default 256. */
  maxConcurrent?: number;
  /**
   * Retries allowed as a share of charges over the last 10 s (plus 10 per second), so retries
   * cannot multiply an outage. Default 1 (at most one retry per charge on average).
   */
  retryBudget?: number;
  /**
   * `false` leaves the circuit breaker out (GATEWAY_BREAKER=off, to measure what it buys):
   * every charge is tried whatever the gateway's recent failures. Default true.
   */
  breaker?: boolean;
  /** Breaker: failure rate over the last 20 attempts that opens it. Default 0.5. */
  breakerFailureRate?: number;
  /** Breaker: how long it stays open before a trial. Default 5,000 ms. */
  breakerOpenMs?: number;
}

export interface GatewayStats {
  circuit: CircuitState;
  /** Failure rate of the breaker's window of recent charges. */
  failureRate: number;
  /** Charges in flight and waiting for a slot. */
  running: number;
  queued: number;
  /** The concurrency limit now (moves with latency when adaptive). */
  limit: number;
  /** Charges refused a slot (not sent) since start. */
  rejected: number;
  /** Retries made, and retries the budget refused, since start. */
  retries: number;
  retriesRefused: number;
}

export interface ChargeRequest {
  id: string;
  amount: number;
  currency: string;
}

export type ChargeOutcome =
  | { status: 'authorized'; reference: string }
  | { status: 'declined'; reason: string }
  | { status: 'failed'; reason: string }
  | { status: 'not_sent'; reason: string }
  | { status: 'unknown'; reason: string };

/** An outcome that settles a payment for good: what the gateway said. */
export type DefiniteOutcome = Extract<
  ChargeOutcome,
  { status: 'authorized' | 'declined' | 'failed' }
>;

/** Whether an outcome says what became of the charge (a final state can be stored). */
export function isDefinite(outcome: ChargeOutcome): outcome is DefiniteOutcome {
  return outcome.status !== 'unknown' && outcome.status !== 'not_sent';
}

interface ChargeBody {
  status?: string;
  reference?: string;
  reason?: string;
}

/** The gateway answered but could not take the request now (5xx, 408, 429): worth another attempt. */
class GatewayUnavailableError extends Error {}
/** The gateway refused the request itself (4xx): sending it again changes nothing. */
class GatewayRejectedError extends Error {}
/** A 200 whose body is not a charge: the gateway's state is not known from it. */
class GatewayBadResponseError extends Error {}

const isTransient = (error: unknown) => !(error instanceof GatewayRejectedError);

export class GatewayClient {
  readonly #http: HttpClient;
  readonly #timeoutMs: number;
  readonly #retries: number;
  readonly #backoffMs: number;
  readonly #breaker: CircuitBreaker;
  readonly #limiter: ConcurrencyLimiter | undefined;
  readonly #bulkhead: Bulkhead | undefined;
  readonly #retry: Retry;
  readonly #budget: RetryBudget;
  readonly #policy: Policy;
  readonly #maxConcurrent: number;

  constructor(options: GatewayClientOptions) {
    this.#timeoutMs = options.timeoutMs ?? 2000;
    this.#retries = options.retries ?? 2;
    this.#backoffMs = options.backoffMs ?? 50;
    this.#http = new HttpClient({
      origin: options.url,
      connections: options.connections ?? 64,
      keepAliveTimeoutMs: 30_000,
      headersTimeoutMs: this.#timeoutMs,
      bodyTimeoutMs: this.#timeoutMs,
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
    this.#maxConcurrent = maxConcurrent;
    if ((options.limit ?? 'adaptive') === 'adaptive') {
      this.#limiter = new ConcurrencyLimiter({
        name: 'gateway',
        algorithm: new GradientLimit({
          initialLimit: Math.min(64, maxConcurrent),
          minLimit: Math.min(16, maxConcurrent),
          maxLimit: maxConcurrent,
          // A payment gateway's latency has a long tail of its own (a charge's mean over a
          // round varies 2x without any queueing): only a larger rise means overload.
          tolerance: 2.5,
        }),
        maxQueue: maxConcurrent * 4,
        // A charge waits for a slot at most one attempt's time, then is not sent.
        queueTimeoutMs: this.#timeoutMs,
        // Timeouts are judged by the latency they add, not as drops: a gateway with a slow tail
        // is not an overloaded one, and each drop would cut the limit by a quarter.
        isDrop: () => false,
      });
    } else {
      this.#bulkhead = new Bulkhead({ maxConcurrent, maxQueue: maxConcurrent * 4 });
    }
    this.#budget = new RetryBudget({
      retryRatio: options.retryBudget ?? 1,
      minRetriesPerSecond: 10,
    });
    this.#retry = new Retry({
      name: 'gateway',
      retries: this.#retries,
      baseMs: this.#backoffMs,
      shouldRetry: isTransient,
      budget: this.#budget,
    });
    this.#policy = wrap(
      (this.#limiter ?? this.#bulkhead)!,
      ...(options.breaker === false ? [] : [this.#breaker]),
      this.#retry,
      new Timeout({ name: 'gateway', timeoutMs: this.#timeoutMs }),
    );
  }

  /** The circuit's state, the concurrency limit's load and the retries, for the dashboard. */
  get stats(): GatewayStats {
    const limiter = this.#limiter?.stats();
    const retry = this.#retry.stats;
    return {
      circuit: this.#breaker.state,
      failureRate: this.#breaker.failureRate,
      running: limiter?.inFlight ?? this.#bulkhead!.running,
      queued: limiter?.queued ?? this.#bulkhead!.queued,
      limit: limiter?.limit ?? this.#maxConcurrent,
      rejected: limiter?.rejected ?? 0,
      retries: retry.retries,
      retriesRefused: retry.budgetExhausted,
    };
  }

  /**
   * Records the HTTP client's per-origin metrics (connect time, queue wait, time to first
   * byte, statuses, in flight: `hotpath_http_client_*`) into `registry` from now on. The
   * client is made before the app and its registry, so the app calls this once it has one.
   */
  registerMetrics(registry: MetricsRegistry): void {
    this.#http.registerMetrics(registry);
  }

  /**
   * Longest time one `charge` can take when the bulkhead has room: every attempt timing out,
   * the backoffs between them and the lookup after them.
   */
  get chargeBudgetMs(): number {
    let backoff = 0;
    for (let i = 0; i < this.#retries; i++) backoff += Math.min(this.#backoffMs * 2 ** i, 5000);
    return this.#timeoutMs * (this.#retries + 2) + backoff;
  }

  /**
   * Charges the gateway (idempotent by payment id); never throws. After attempts that were
   * sent and failed, asks once whether the charge exists before answering `unknown`.
   */
  async charge(request: ChargeRequest): Promise<ChargeOutcome> {
    let sent = false;
    try {
      const body = await this.#policy.execute(({ signal }) => {
        sent = true;
        return this.#post(request, signal!);
      });
      return toOutcome(body);
    } catch (error) {
      const reason = reasonOf(error);
      if (error instanceof GatewayRejectedError) return { status: 'failed', reason };
      if (!sent) return { status: 'not_sent', reason };
      return (await this.lookup(request.id)) ?? { status: 'unknown', reason };
    }
  }

  /**
   * What the gateway holds for a payment: its final state, or `undefined` when the gateway has
   * no charge for it or cannot say now (unreachable, slow, breaker open). Never throws.
   */
  async lookup(id: string): Promise<DefiniteOutcome | undefined> {
    if (this.#breaker.state === 'open') return undefined;
    try {
      const body = await withTimeout(
        (signal) => this.#request('GET', `/v1/charges/${encodeURIComponent(id)}`, signal),
        this.#timeoutMs,
      );
      return body === undefined ? undefined : toOutcome(body);
    } catch {
      return undefined;
    }
  }

  /**
   * Settles a payment whose earlier charge may have been sent (a crash, an unknown outcome):
   * the gateway's record when it has one, else the idempotent charge again. `not_sent` and
   * `unknown` mean "ask again later", never that the charge failed.
   */
  async resolve(request: ChargeRequest): Promise<ChargeOutcome> {
    const known = await this.lookup(request.id);
    if (known !== undefined) return known;
    const outcome = await this.charge(request);
    // A fresh charge that could not be sent says nothing of an earlier attempt that was.
    return outcome.status === 'not_sent' ? { status: 'unknown', reason: outcome.reason } : outcome;
  }

  async close(): Promise<void> {
    await this.#limiter?.close();
    await this.#http.close();
  }

  async #post(request: ChargeRequest, signal: AbortSignal): Promise<ChargeBody> {
    const body = await this.#request('POST', '/v1/charges', signal, request);
    // A 404 to a charge is not a charge: the gateway is not the one we expect.
    if (body === undefined) throw new GatewayBadResponseError('gateway answered 404 to a charge');
    return body;
  }

  /** Resolves to the JSON body of a 200, `undefined` for a 404. */
  async #request(
    method: 'GET' | 'POST',
    path: string,
    signal: AbortSignal,
    payload?: unknown,
  ): Promise<ChargeBody | undefined> {
    const { statusCode, body } = await this.#http.request({
      method,
      path,
      headers: payload === undefined ? {} : { 'content-type': 'application/json' },
      ...(payload === undefined ? {} : { body: JSON.stringify(payload) }),
      signal,
    });
    if (statusCode === 200) {
      const parsed = (await body.json()) as ChargeBody;
      if (parsed.status !== 'authorized' && parsed.status !== 'declined')
        throw new GatewayBadResponseError(`gateway answered a charge with status ${parsed.status}`);
      return parsed;
    }
    await body.dump();
    if (statusCode === 404) return undefined;
    if (statusCode >= 500 || statusCode === 408 || statusCode === 429)
      throw new GatewayUnavailableError(`gateway answered ${statusCode}`);
    throw new GatewayRejectedError(`gateway_rejected_${statusCode}`);
  }
}

function toOutcome(body: ChargeBody): DefiniteOutcome {
  if (body.status === 'authorized')
    return { status: 'authorized', reference: body.reference ?? '' };
  return { status: 'declined', reason: body.reason ?? 'declined' };
}

function reasonOf(error: unknown): string {
  if (error instanceof CircuitOpenError) return 'gateway_circuit_open';
  if (error instanceof BulkheadFullError || error instanceof ConcurrencyLimitError)
    return 'gateway_busy';
  if (error instanceof GatewayRejectedError) return error.message;
  if (error instanceof GatewayBadResponseError) return 'gateway_bad_response';
  if (error instanceof GatewayUnavailableError) return 'gateway_unavailable';
  if (error instanceof TimeoutError || error instanceof DeadlineExceededError)
    return 'gateway_timeout';
  const e = error as { code?: string };
  if (e.code === 'UND_ERR_HEADERS_TIMEOUT' || e.code === 'UND_ERR_BODY_TIMEOUT')
    return 'gateway_timeout';
  return 'gateway_unreachable';
}
