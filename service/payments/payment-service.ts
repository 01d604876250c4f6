import { createHash } from 'node:crypto';
import type { Cache } from 'hotpath/cache';
import type { QueryExecutor } from 'hotpath/db';
import { ApiError } from '../errors.js';
import type { DefiniteOutcome, GatewayClient } from '../gateway/client.js';
import type { Payment, PaymentInput, PaymentStatus, UserSummary } from './payment.js';
import { PaymentShards } from './payment-shards.js';
import type { PaymentRepository, StoredPayment } from './repository.js';

/** Give `repository` (one database) or `shards` (one or more). */
export interface PaymentServiceOptions {
  /** The one database's repository. */
  repository?: PaymentRepository;
  /** The databases, when the payments are sharded by user (DATABASE_SHARD_URLS). */
  shards?: PaymentShards;
  gateway: Pick<GatewayClient, 'charge'>;
  /** How long a retry waits for a concurrent request with its key to finish. Default 15,000 ms. */
  idempotencyWaitMs?: number;
  /**
   * How long the creating request holds a new payment before the reconciler may take it: at
   * least the longest a charge can take. Default 30,000 ms.
   */
  chargeHoldMs?: number;
  /** When the reconciler first looks at a payment whose charge ended unknown. Default 1,000 ms. */
  unknownRetryMs?: number;
  /** Called when a payment changes state (cache invalidation, events). */
  onChange?: (payment: Payment) => void;
  /** Called when storing a charge's outcome failed; the payment stays pending for the reconciler. */
  onStoreError?: (error: unknown, payment: Payment) => void;
  /**
   * Caches `get` (cache-aside) and `summary` (refresh-ahead); both keys are dropped, in every
   * instance, on each state change of a payment, before the change is acknowledged.
   */
  cache?: Cache;
}

/** A payment read: cache-aside, "not found" cached briefly (a create drops it). */
const PAYMENT_READ = { ttlMs: 60_000, negativeTtlMs: 2_000 } as const;
/** A user summary: an aggregate, refreshed in the background once 30% of its TTL is left. */
const SUMMARY_READ = { ttlMs: 10_000, refreshAhead: 0.3 } as const;
const paymentKey = (id: string): string => `payment:${id}`;
const summaryKey = (userId: number): string => `summary:${userId}`;

/** The outcome of a create: the payment and whether it was replayed from an earlier request. */
export interface CreateResult {
  payment: Payment;
  replayed: boolean;
}

/** The canonical fingerprint of a create request's body: same body, same hash. */
export function requestHash(input: PaymentInput): string {
  return createHash('sha256')
    .update(JSON.stringify([input.user_id, input.amount, input.currency]))
    .digest('base64url');
}

/**
 * The payments domain: create (idempotent, through the gateway), read, list, summarize, and
 * settle payments whose charge ended without a definite answer. A payment is `failed` only
 * when the gateway refused it or no attempt was ever sent; an unknown outcome leaves it
 * `pending` until the gateway says what happened (see {@link Reconciler}).
 */
export class PaymentService {
  readonly #shards: PaymentShards;
  readonly #gateway: Pick<GatewayClient, 'charge'>;
  readonly #waitMs: number;
  readonly #holdMs: number;
  readonly #unknownRetryMs: number;
  readonly #onChange: ((payment: Payment) => void) | undefined;
  readonly #onStoreError: ((error: unknown, payment: Payment) => void) | undefined;
  readonly #cache: Cache | undefined;
  // Requests in flight in this process by idempotency key, with their body's hash: concurrent
  // duplicates share one; a different body under the same key is refused at once.
  readonly #inFlight = new Map<string, { hash: string; result: Promise<CreateResult> }>();

  /** @throws TypeError unless exactly one of `repository` and `shards` is given. */
  constructor(options: PaymentServiceOptions) {
    if ((options.repository === undefined) === (options.shards === undefined))
      throw new TypeError('PaymentService: give repository or shards, not both');
    this.#shards = options.shards ?? new PaymentShards([options.repository!]);
    this.#gateway = options.gateway;
    this.#waitMs = options.idempotencyWaitMs ?? 15_000;
    this.#holdMs = options.chargeHoldMs ?? 30_000;
    this.#unknownRetryMs = options.unknownRetryMs ?? 1000;
    this.#onChange = options.onChange;
    this.#onStoreError = options.onStoreError;
    this.#cache = options.cache;
  }

  /** The repository of the first database (with one database, the only one). */
  get repository(): PaymentRepository {
    return this.#shards.all()[0]!;
  }

  /** Where the payments live: every database, for the reconciler's sweeps. */
  get shards(): PaymentShards {
    return this.#shards;
  }

  /** A payment changed state: drop its cached reads everywhere, then tell the listener. */
  async #changed(payment: Payment): Promise<void> {
    // Both keys in one L2 round trip (one script call, not two).
    await this.#cache?.deleteMany([paymentKey(payment.id), summaryKey(payment.user_id)]);
    this.#onChange?.(payment);
  }

  /**
   * Creates a payment and charges it. With an idempotency key, a retry returns the stored
   * payment (waiting for it if the first request is still running) and never charges twice.
   * The payment comes back `pending` when the charge's outcome is not known yet.
   * @throws ApiError IDEMPOTENCY_KEY_REUSED when the key was used with a different body.
   * @throws ApiError IDEMPOTENCY_IN_PROGRESS when the first request is still running after the wait.
   */
  async create(input: PaymentInput, idempotencyKey: string | undefined): Promise<CreateResult> {
    if (idempotencyKey === undefined) {
      const payment = await this.#shards
        .forUser(input.user_id)
        .insertPending(this.#shards.newId(input.user_id), input, null, null, this.#holdMs);
      if (payment === undefined) throw new Error('insert without idempotency key returned no row');
      await this.#changed(payment);
      return { payment: await this.#charge(payment), replayed: false };
    }
    const hash = requestHash(input);
    const running = this.#inFlight.get(idempotencyKey);
    if (running !== undefined) {
      if (running.hash !== hash) throw keyReused();
      const result = await running.result;
      return { payment: result.payment, replayed: true };
    }
    const result = this.#shards.isSharded
      ? this.#createRecorded(input, idempotencyKey, hash)
      : this.#createIdempotent(input, idempotencyKey, hash);
    this.#inFlight.set(idempotencyKey, { hash, result });
    try {
      return await result;
    } finally {
      this.#inFlight.delete(idempotencyKey);
    }
  }

  /** One database: the payment row's unique idempotency key decides, in one statement. */
  async #createIdempotent(input: PaymentInput, key: string, hash: string): Promise<CreateResult> {
    const repo = this.#shards.forUser(input.user_id);
    const inserted = await repo.insertPending(
      this.#shards.newId(input.user_id),
      input,
      key,
      hash,
      this.#holdMs,
    );
    if (inserted !== undefined) {
      await this.#changed(inserted);
      return { payment: await this.#charge(inserted), replayed: false };
    }
    // The key exists: created by an earlier request, here or in another process.
    return this.#awaitStored(hash, async () => {
      const stored = await repo.findByIdempotencyKey(key);
      if (stored === undefined)
        throw new Error(`idempotency key ${key} conflicted but no row holds it`);
      return stored;
    });
  }

  /**
   * Several databases: two requests with one key may name users on different shards, so no
   * payments table sees both. The key's record, on the shard the key hashes to, decides first
   * (and names the payment id); only then is the payment inserted on its user's shard. A
   * payment therefore never exists without its record. A record without its payment (the
   * user's shard failed in between, before any charge) is completed by the next request with
   * the same body, under the recorded id: the payment's primary key lets only one insert win.
   */
  async #createRecorded(input: PaymentInput, key: string, hash: string): Promise<CreateResult> {
    const record = await this.#shards
      .forKey(key)
      .recordIdempotencyKey(key, hash, this.#shards.newId(input.user_id));
    if (record.requestHash !== hash) throw keyReused(record.paymentId);
    // Same body, same user: the recorded id names this user's shard.
    const repo = this.#shards.forUser(input.user_id);
    const inserted = await repo.insertRecordedPending(
      record.paymentId,
      input,
      key,
      hash,
      this.#holdMs,
    );
    if (inserted !== undefined) {
      await this.#changed(inserted);
      return { payment: await this.#charge(inserted), replayed: false };
    }
    return this.#awaitStored(hash, async () => {
      const stored = await repo.findStoredById(record.paymentId);
      if (stored === undefined)
        throw new Error(
          `payment ${record.paymentId} of idempotency key ${key} conflicted but is missing`,
        );
      return stored;
    });
  }

  /** Replays the payment an earlier request with this key made, waiting while it runs. */
  async #awaitStored(hash: string, read: () => Promise<StoredPayment>): Promise<CreateResult> {
    const deadline = Date.now() + this.#waitMs;
    let delayMs = 10;
    for (;;) {
      const stored = await read();
      if (stored.requestHash !== hash) throw keyReused(stored.payment.id);
      // Final, or pending with its first charge over (outcome unknown, or a crash): replay it.
      if (!stored.inProgress) return { payment: stored.payment, replayed: true };
      if (Date.now() >= deadline) {
        throw new ApiError(
          'IDEMPOTENCY_IN_PROGRESS',
          'a request with this Idempotency-Key is still being processed; retry later',
        );
      }
      await new Promise((r) => setTimeout(r, delayMs));
      delayMs = Math.min(delayMs * 2, 200);
    }
  }

  /** Charges a pending payment at the gateway and stores what is known of it. */
  async #charge(payment: Payment): Promise<Payment> {
    const outcome = await this.#gateway.charge({
      id: payment.id,
      amount: payment.amount,
      currency: payment.currency,
    });
    try {
      if (outcome.status === 'unknown') {
        const deferred = await this.#shards
          .forUser(payment.user_id)
          .deferPending(payment.id, outcome.reason, this.#unknownRetryMs, true);
        return deferred ?? payment;
      }
      // No attempt left this process: nothing can have been charged, so failed is the truth.
      const settled =
        outcome.status === 'not_sent'
          ? { status: 'failed' as const, reason: outcome.reason }
          : outcome;
      return (await this.settle(payment.id, settled)) ?? payment;
    } catch (error) {
      // The row is committed and pending: the reconciler stores the outcome once it can (the
      // gateway answers it again by payment id). The client is told it is pending.
      this.#onStoreError?.(error, payment);
      return payment;
    }
  }

  /**
   * Stores a definite outcome of a pending payment (the first to store wins; a payment already
   * final keeps its state) and drops its cached reads. Returns the payment as stored.
   */
  async settle(id: string, outcome: DefiniteOutcome): Promise<Payment | undefined> {
    const repo = this.#shards.forId(id);
    if (repo === undefined) return undefined;
    const finalized = await repo.finalize(
      id,
      outcome.status,
      outcome.status === 'authorized' ? outcome.reference : null,
      outcome.status === 'authorized' ? null : outcome.reason,
    );
    if (finalized !== undefined) await this.#changed(finalized);
    return finalized;
  }

  /**
   * The payment as this process's cache holds it fresh, synchronously, or undefined (no cache,
   * not cached here, or due for a refresh): then {@link get} answers.
   */
  peek(id: string): Payment | undefined {
    return this.#cache?.peek<Payment>(paymentKey(id));
  }

  async get(id: string): Promise<Payment> {
    // Sharded: the id names its shard, so one shard is asked (an id naming no shard is unknown).
    const repo = this.#shards.forId(id);
    const payment =
      repo === undefined
        ? undefined
        : this.#cache === undefined
          ? await repo.readById(id)
          : // A cache fill reads `db` (the primary): with a replica, app.ts wires the cache so a
            // fill reads it only once it has replayed the payment's last write (never a state
            // older than the invalidation that made the fill necessary).
            await this.#cache.getOrSet(paymentKey(id), () => repo.findById(id), PAYMENT_READ);
    if (payment === undefined)
      throw new ApiError('PAYMENT_NOT_FOUND', `payment ${id} does not exist`);
    return payment;
  }

  async list(
    userId: number,
    limit: number,
    beforeId: string | undefined,
  ): Promise<{ items: Payment[]; more: boolean }> {
    // One extra row tells whether another page exists without a count query.
    const rows = await this.#shards.forUser(userId).listByUser(userId, limit + 1, beforeId);
    return { items: rows.slice(0, limit), more: rows.length > limit };
  }

  /** One page of a user's payments after skipping `offset` rows (PAGINATION=offset). */
  async listAtOffset(
    userId: number,
    limit: number,
    offset: number,
  ): Promise<{ items: Payment[]; more: boolean }> {
    const rows = await this.#shards.forUser(userId).listByUserOffset(userId, limit + 1, offset);
    return { items: rows.slice(0, limit), more: rows.length > limit };
  }

  /**
   * The latest payment of each user. `batched` (default) runs one LATERAL query; `naive` runs
   * one query per user, the N+1 shape kept to measure against (N_PLUS_ONE=naive). Sharded,
   * `batched` runs one query per shard that holds some of the users, all at once.
   */
  async latestOfUsers(
    userIds: readonly number[],
    mode: 'batched' | 'naive',
  ): Promise<{ user_id: number; payment: Payment | null }[]> {
    if (mode === 'naive') {
      const out: { user_id: number; payment: Payment | null }[] = [];
      for (const id of userIds)
        out.push({
          user_id: id,
          payment: (await this.#shards.forUser(id).latestByUser(id)) ?? null,
        });
      return out;
    }
    const byShard = new Map<PaymentRepository, number[]>();
    for (const id of userIds) {
      const repo = this.#shards.forUser(id);
      const ids = byShard.get(repo);
      if (ids === undefined) byShard.set(repo, [id]);
      else ids.push(id);
    }
    const found = await Promise.all([...byShard].map(([repo, ids]) => repo.latestByUsers(ids)));
    const latest = found.length === 1 ? found[0]! : new Map(found.flatMap((m) => [...m]));
    return userIds.map((id) => ({ user_id: id, payment: latest.get(id) ?? null }));
  }

  async summary(userId: number): Promise<UserSummary> {
    if (this.#cache === undefined)
      return this.#summarize(userId, this.#shards.forUser(userId).reads);
    const summary = await this.#cache.getOrSet(
      summaryKey(userId),
      () => this.#summarize(userId),
      SUMMARY_READ,
    );
    return summary!;
  }

  /** The summary from `from` (by default `db`, the primary, where cache fills read; see `get`). */
  async #summarize(userId: number, from?: QueryExecutor): Promise<UserSummary> {
    const breakdown = await this.#shards.forUser(userId).summarize(userId, from);
    const byStatus: Record<PaymentStatus, number> = {
      pending: 0,
      authorized: 0,
      declined: 0,
      failed: 0,
    };
    const authorized: Record<string, number> = {};
    let payments = 0;
    for (const row of breakdown) {
      payments += row.count;
      byStatus[row.status] += row.count;
      if (row.status === 'authorized')
        authorized[row.currency] = (authorized[row.currency] ?? 0) + row.amount;
    }
    return { user_id: userId, payments, authorized, by_status: byStatus, breakdown };
  }
}

function keyReused(paymentId?: string): ApiError {
  return new ApiError(
    'IDEMPOTENCY_KEY_REUSED',
    `Idempotency-Key was already used for a different request${paymentId === undefined ? '' : ` (payment ${paymentId})`}`,
  );
}
