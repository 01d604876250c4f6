import type { GatewayClient } from '../gateway/client.js';
import { isDefinite } from '../gateway/client.js';
import type { Payment } from './payment.js';
import type { PaymentService } from './payment-service.js';
import type { ClaimedPayment, PaymentRepository, PendingStats } from './repository.js';

export interface ReconcilerOptions {
  payments: PaymentService;
  gateway: Pick<GatewayClient, 'resolve'>;
  /** Payments asked about at once. Default 32. */
  concurrency?: number;
  /** Payments claimed per database round trip. Default 200. */
  batchSize?: number;
  /**
   * How long a claim keeps other sweeps (here and in other instances) off a payment: at least
   * the longest one `resolve` can take. Default 30,000 ms.
   */
  leaseMs?: number;
  /** First wait after an attempt that settled nothing; doubles per attempt. Default 1,000 ms. */
  backoffMs?: number;
  /** Longest wait between attempts on one payment. Default 60,000 ms. */
  maxBackoffMs?: number;
  /** Random source in [0, 1) for the backoff's jitter. */
  random?: () => number;
  /** Told of each payment settled by a sweep. */
  onSettled?: (payment: Payment) => void;
  /** Told when a sweep fails (the database is down, say); the next sweep tries again. */
  onError?: (error: unknown) => void;
}

/** What one sweep did. */
export interface SweepResult {
  /** Payments claimed and asked about. */
  claimed: number;
  /** Settled to a final state. */
  settled: number;
  /** Still unknown: put back with a backoff. */
  deferred: number;
  durationMs: number;
}

/** What the reconciler has done since it started, for metrics and the dashboard. */
export interface ReconcilerStats {
  sweeps: number;
  settled: number;
  deferred: number;
  lastSweep: SweepResult | undefined;
  /** Pending payments after the last sweep, and the oldest one's creation time. */
  pending: PendingStats;
}

/**
 * Settles pending payments by asking the gateway what became of them, on every database (each
 * shard of a sharded service): one sweep at a time per instance (a sweep asked for while one runs joins it), safe across instances (claims are
 * leases taken with `FOR UPDATE SKIP LOCKED`), `concurrency` gateway round trips at once, and
 * an exponential backoff with jitter per payment while the gateway cannot say. A payment is
 * never marked failed for want of an answer.
 */
export class Reconciler {
  readonly #payments: PaymentService;
  readonly #gateway: Pick<GatewayClient, 'resolve'>;
  readonly #concurrency: number;
  readonly #batchSize: number;
  readonly #leaseMs: number;
  readonly #backoffMs: number;
  readonly #maxBackoffMs: number;
  readonly #random: () => number;
  readonly #onSettled: ((payment: Payment) => void) | undefined;
  readonly #onError: ((error: unknown) => void) | undefined;
  #running: Promise<SweepResult> | undefined;
  /** The last pending count each database reported (a shard that failed keeps its last). */
  readonly #pendingByShard: PendingStats[] = [];
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  readonly #stats: ReconcilerStats = {
    sweeps: 0,
    settled: 0,
    deferred: 0,
    lastSweep: undefined,
    pending: { count: 0, oldestCreatedAt: null },
  };

  constructor(options: ReconcilerOptions) {
    this.#payments = options.payments;
    this.#gateway = options.gateway;
    this.#concurrency = positive('concurrency', options.concurrency ?? 32);
    this.#batchSize = positive('batchSize', options.batchSize ?? 200);
    this.#leaseMs = positive('leaseMs', options.leaseMs ?? 30_000);
    this.#backoffMs = positive('backoffMs', options.backoffMs ?? 1000);
    this.#maxBackoffMs = positive('maxBackoffMs', options.maxBackoffMs ?? 60_000);
    this.#random = options.random ?? Math.random;
    this.#onSettled = options.onSettled;
    this.#onError = options.onError;
  }

  get stats(): ReconcilerStats {
    return { ...this.#stats };
  }

  /** Sweeps every `intervalMs` (and once now) until {@link close}. */
  start(intervalMs: number): void {
    if (this.#timer !== undefined || this.#closed) return;
    const tick = () => {
      this.sweep().catch((error: unknown) => this.#onError?.(error));
    };
    tick();
    this.#timer = setInterval(tick, intervalMs);
    this.#timer.unref();
  }

  /**
   * Settles every pending payment that is due, then resolves with what it did. While a sweep
   * runs, another call returns the running one: sweeps of one instance never overlap.
   */
  sweep(): Promise<SweepResult> {
    if (this.#running !== undefined) return this.#running;
    const running = this.#sweep().finally(() => {
      this.#running = undefined;
    });
    this.#running = running;
    return running;
  }

  async #sweep(): Promise<SweepResult> {
    const started = performance.now();
    const result: SweepResult = { claimed: 0, settled: 0, deferred: 0, durationMs: 0 };
    // Every database at once (DATABASE_SHARD_URLS): a shard that is down or slow holds up
    // only its own payments; its failure is reported and the next sweep tries it again.
    const shards = this.#payments.shards.all();
    const outcomes = await Promise.allSettled(
      shards.map((repo, index) => this.#sweepShard(repo, index, result)),
    );
    const failed = outcomes.flatMap((o) => (o.status === 'rejected' ? [o.reason as unknown] : []));
    if (failed.length === shards.length) throw failed[0];
    for (const error of failed) this.#onError?.(error);
    result.durationMs = performance.now() - started;
    this.#stats.pending = sumPending(this.#pendingByShard);
    this.#stats.sweeps++;
    this.#stats.settled += result.settled;
    this.#stats.deferred += result.deferred;
    this.#stats.lastSweep = result;
    return result;
  }

  async #sweepShard(repo: PaymentRepository, index: number, result: SweepResult): Promise<void> {
    for (;;) {
      if (this.#closed) break;
      const claimed = await repo.claimDue(this.#batchSize, this.#leaseMs);
      if (claimed.length === 0) break;
      result.claimed += claimed.length;
      await runBounded(claimed, this.#concurrency, async (item) => {
        if (await this.#settleOne(repo, item)) result.settled++;
        else result.deferred++;
      });
      if (claimed.length < this.#batchSize) break;
    }
    this.#pendingByShard[index] = await repo.pendingStats();
  }

  /** Asks the gateway about one claimed payment; true when it is settled now. */
  async #settleOne(
    repo: PaymentRepository,
    { payment, attempts }: ClaimedPayment,
  ): Promise<boolean> {
    try {
      const outcome = await this.#gateway.resolve({
        id: payment.id,
        amount: payment.amount,
        currency: payment.currency,
      });
      if (isDefinite(outcome)) {
        const settled = await this.#payments.settle(payment.id, outcome);
        if (settled !== undefined) this.#onSettled?.(settled);
        return true;
      }
      await repo.deferPending(payment.id, outcome.reason, this.#backoff(attempts), false);
      return false;
    } catch (error) {
      // The payment keeps its claim until the lease ends, then is tried again.
      this.#onError?.(error);
      return false;
    }
  }

  /** Exponential in the attempts made, with full jitter over its upper half. */
  #backoff(attempts: number): number {
    const ceiling = Math.min(this.#maxBackoffMs, this.#backoffMs * 2 ** Math.max(0, attempts - 1));
    return ceiling / 2 + (this.#random() * ceiling) / 2;
  }

  /** Stops sweeping and waits for a sweep that runs. */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#running?.catch(() => {});
  }
}

function sumPending(shards: readonly PendingStats[]): PendingStats {
  let count = 0;
  let oldest: Date | null = null;
  for (const s of shards) {
    if (s === undefined) continue;
    count += s.count;
    if (s.oldestCreatedAt !== null && (oldest === null || s.oldestCreatedAt < oldest))
      oldest = s.oldestCreatedAt;
  }
  return { count, oldestCreatedAt: oldest };
}

function positive(name: string, value: number): number {
  if (!Number.isFinite(value) || value <= 0)
    throw new RangeError(`${name} must be a positive number, got ${value}`);
  return value;
}

/** Runs `fn` over `items` with at most `limit` calls in flight. */
async function runBounded<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
