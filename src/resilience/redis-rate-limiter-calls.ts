import type { Redis } from 'ioredis';
import type { RateLimitDecision, RateLimitPolicy } from './gcra.js';
import { RATE_LIMIT_SCRIPT, RATE_LIMIT_SCRIPT_SHA } from './redis-rate-limiter-script.js';

/** One decision waiting for its script call. */
export interface Pending {
  key: string;
  cost: number;
  /** The caller's time in µs, with `clientTime`; else 0. */
  nowUs: number;
  resolve: (decision: RateLimitDecision) => void;
}

/** What {@link ScriptCalls} needs from its limiter. */
export interface ScriptCallsOptions {
  client: Redis;
  prefix: string;
  policy: RateLimitPolicy;
  /** Send each decision's time (`time: 'client'`) rather than use the server's TIME. */
  clientTime: boolean;
  maxBatch: number;
  timeoutMs: number;
  /** False while Redis is to be left alone: queued decisions then go to `fail` unsent. */
  usable(): boolean;
  /** The script's answer for one decision ({@link gcra}'s encoding). */
  decided(p: Pending, outcome: number): void;
  /** A call failed or timed out (or was never sent): its decisions are the limiter's to settle. */
  failed(pending: readonly Pending[], error: unknown, timedOut: boolean): void;
}

/** One script call sent and not settled. */
interface Batch {
  pending: Pending[];
  args: (string | number)[];
  started: number;
  /** The SCRIPT LOAD generation it was sent after. */
  loadSeq: number;
  resent: boolean;
  settled: boolean;
}

// One executor for every decision's promise, rather than a closure allocated per decision
// (bench/resilience/rate-limit.bench.ts): it hands the resolve function over synchronously.
let captured: ((decision: RateLimitDecision) => void) | undefined;
const capture = (resolve: (decision: RateLimitDecision) => void): void => {
  captured = resolve;
};

/**
 * The Redis limiter's script calls. Decisions queued in one event-loop turn are sent at its
 * end, split evenly into EVALSHAs of at most `maxBatch` keys, all pipelined on the client's
 * connection. The script is loaded with SCRIPT LOAD before the first call, and again when a
 * call meets NOSCRIPT (once for all the calls in flight, each then sent again once). Every
 * call is bounded by `timeoutMs` through one watchdog timer for all calls in flight.
 */
export class ScriptCalls {
  readonly #o: ScriptCallsOptions;
  #queue: Pending[] = [];
  #flushScheduled = false;
  readonly #inFlight = new Set<Batch>();
  #watchdog: NodeJS.Timeout | undefined;
  #loadSeq = 0;

  constructor(options: ScriptCallsOptions) {
    this.#o = options;
  }

  /** SCRIPT LOADs sent so far. */
  get loads(): number {
    return this.#loadSeq;
  }

  /** Queues a decision for the call sent at the end of this turn. */
  enqueue(key: string, cost: number, nowUs: number): Promise<RateLimitDecision> {
    const promise = new Promise<RateLimitDecision>(capture);
    this.#queue.push({ key, cost, nowUs, resolve: captured! });
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(this.#flush);
    }
    return promise;
  }

  /** Takes the decisions not sent yet out of the queue. */
  drain(): Pending[] {
    const queued = this.#queue;
    this.#queue = [];
    return queued;
  }

  readonly #flush = (): void => {
    this.#flushScheduled = false;
    const queued = this.drain();
    if (queued.length === 0) return;
    if (!this.#o.usable()) {
      this.#o.failed(queued, undefined, false);
      return;
    }
    if (this.#loadSeq === 0) this.#load();
    const n = queued.length;
    const max = this.#o.maxBatch;
    if (n <= max) {
      this.#send(queued);
      return;
    }
    // Split evenly, so that no call carries only a few left-over decisions.
    const size = Math.ceil(n / Math.ceil(n / max));
    for (let start = 0; start < n; start += size) this.#send(queued.slice(start, start + size));
  };

  #load(): void {
    this.#loadSeq++;
    // Sent before the EVALSHAs that follow it on the same connection, so it is not awaited;
    // a failure shows as NOSCRIPT or an error on those.
    this.#o.client.script('LOAD', RATE_LIMIT_SCRIPT).catch(() => undefined);
  }

  #send(pending: Pending[]): void {
    const { clientTime, policy, prefix } = this.#o;
    const n = pending.length;
    let units = !clientTime;
    for (let i = 0; units && i < n; i++) if (pending[i]!.cost !== 1) units = false;
    // The usual call, all costs 1 on the server's clock, sends no cost: half the arguments
    // to encode here and to parse there (bench/resilience/rate-limit.bench.ts).
    const perKey = units ? 1 : clientTime ? 3 : 2;
    const args = new Array<string | number>(5 + n * perKey);
    args[0] = RATE_LIMIT_SCRIPT_SHA;
    args[1] = n;
    for (let i = 0; i < n; i++) args[2 + i] = prefix + pending[i]!.key;
    let j = 2 + n;
    args[j++] = policy.intervalUs;
    args[j++] = policy.toleranceUs;
    args[j++] = units ? 'u' : clientTime ? 'c' : 'r';
    if (!units) {
      for (let i = 0; i < n; i++) {
        const p = pending[i]!;
        args[j++] = p.cost;
        if (clientTime) args[j++] = p.nowUs;
      }
    }
    this.#dispatch({
      pending,
      args,
      started: performance.now(),
      loadSeq: this.#loadSeq,
      resent: false,
      settled: false,
    });
  }

  #dispatch(batch: Batch): void {
    this.#inFlight.add(batch);
    if (this.#watchdog === undefined)
      this.#watchdog = setTimeout(this.#expire, this.#o.timeoutMs).unref();
    (this.#o.client.call('EVALSHA', batch.args) as Promise<unknown>).then(
      (reply) => this.#answer(batch, reply),
      (error: unknown) => this.#error(batch, error),
    );
  }

  #answer(batch: Batch, reply: unknown): void {
    if (batch.settled) return;
    const pending = batch.pending;
    if (!Array.isArray(reply) || reply.length !== pending.length) {
      this.#error(batch, new Error('unexpected reply from the rate-limit script'));
      return;
    }
    this.#settle(batch);
    const decided = this.#o.decided;
    for (let i = 0; i < pending.length; i++) decided(pending[i]!, reply[i] as number);
  }

  #error(batch: Batch, error: unknown): void {
    if (batch.settled) return;
    const message = (error as { message?: unknown } | null)?.message;
    if (typeof message === 'string' && message.startsWith('NOSCRIPT') && !batch.resent) {
      // Every call sent after the script was flushed fails alike: one SCRIPT LOAD for them
      // all, each sent again once after it.
      this.#inFlight.delete(batch);
      if (batch.loadSeq === this.#loadSeq) this.#load();
      batch.loadSeq = this.#loadSeq;
      batch.resent = true;
      this.#dispatch(batch);
      return;
    }
    this.#settle(batch);
    this.#o.failed(batch.pending, error, false);
  }

  #settle(batch: Batch): void {
    batch.settled = true;
    this.#inFlight.delete(batch);
  }

  /** Fails the calls older than `timeoutMs`, and waits for the next oldest. */
  readonly #expire = (): void => {
    this.#watchdog = undefined;
    const timeoutMs = this.#o.timeoutMs;
    const now = performance.now();
    let next = Infinity;
    for (const batch of this.#inFlight) {
      const due = batch.started + timeoutMs;
      if (due <= now) {
        this.#settle(batch);
        this.#o.failed(
          batch.pending,
          new Error(`Redis did not answer within ${timeoutMs} ms`),
          true,
        );
      } else if (due < next) next = due;
    }
    if (next !== Infinity)
      this.#watchdog = setTimeout(this.#expire, Math.max(1, next - now)).unref();
  };
}
