import { buildLateralQuery, type Database, type QueryExecutor } from 'hotpath/db';
import type {
  CurrencySummary,
  FinalStatus,
  Payment,
  PaymentInput,
  PaymentStatus,
} from './payment.js';

interface PaymentRow {
  id: string;
  user_id: number | string;
  amount: number | string;
  currency: string;
  status: PaymentStatus;
  gateway_ref: string | null;
  failure_reason: string | null;
  created_at: Date | string;
  updated_at: Date | string;
  idempotency_key?: string | null;
  request_hash?: string | null;
}

const COLUMN_NAMES = [
  'id',
  'user_id',
  'amount',
  'currency',
  'status',
  'gateway_ref',
  'failure_reason',
  'created_at',
  'updated_at',
];

// The times as UTC text, which toPayment turns into the API's ISO strings by slicing: no
// Date parsed by the driver and then formatted again, two per row (a list of 100 payments
// made 400 Date calls). PostgreSQL prints a timestamp the same way with or without the
// conversion, so its cost stays the same.
const COLUMNS = COLUMN_NAMES.map((c) =>
  c.endsWith('_at') ? `(${c} AT TIME ZONE 'UTC')::text AS ${c}` : c,
).join(', ');

const UTC_TEXT = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d{1,6})?$/;

/**
 * A time as `Date.prototype.toISOString` prints it: from a Date (a query that selects the
 * column itself), or from a UTC timestamp as text, `YYYY-MM-DD HH:MM:SS[.ffffff]` in
 * PostgreSQL's ISO DateStyle (the one the driver's own Date parsing reads too). Fractions
 * are cut to milliseconds, as a Date made from them is.
 */
function isoTime(value: Date | string): string {
  if (typeof value !== 'string') return value.toISOString();
  if (UTC_TEXT.test(value)) {
    const ms = value.length === 19 ? '000' : value.slice(20, 23).padEnd(3, '0');
    return `${value.slice(0, 10)}T${value.slice(11, 19)}.${ms}Z`;
  }
  // Anything else (an offset, a year past 9999): through a Date, with no offset read as UTC.
  return new Date(
    /[zZ]|[+-]\d\d(:?\d\d)?$/.test(value) ? value : `${value.replace(' ', 'T')}Z`,
  ).toISOString();
}

function toPayment(row: PaymentRow): Payment {
  return {
    id: row.id,
    user_id: Number(row.user_id),
    amount: Number(row.amount),
    currency: row.currency,
    status: row.status,
    gateway_ref: row.gateway_ref,
    failure_reason: row.failure_reason,
    created_at: isoTime(row.created_at),
    updated_at: isoTime(row.updated_at),
  };
}

function storedPayment(
  row: (PaymentRow & { in_progress: boolean }) | undefined,
): StoredPayment | undefined {
  return row === undefined
    ? undefined
    : {
        payment: toPayment(row),
        requestHash: row.request_hash ?? null,
        inProgress: row.in_progress,
      };
}

// The latest payment of each of many users in one statement: one index probe per user on
// (user_id, id DESC), each stopping after one row (hotpath/db's LATERAL shape).
const LATEST_BY_USERS = buildLateralQuery({
  table: 'payments',
  keyColumn: 'user_id',
  select: COLUMN_NAMES,
  orderBy: [{ column: 'id', direction: 'desc' }],
  limit: 1,
});

/** A stored payment with the idempotency data it was created under. */
export interface StoredPayment {
  payment: Payment;
  requestHash: string | null;
  /** Pending and still held by the request that created it (its charge has not ended). */
  inProgress: boolean;
}

/** An Idempotency-Key's record (sharded service): the body it was first used with, and its payment. */
export interface IdempotencyRecord {
  requestHash: string;
  paymentId: string;
  /** True when this call created the record. */
  created: boolean;
}

/** A pending payment the reconciler claimed, with the attempts made on it so far. */
export interface ClaimedPayment {
  payment: Payment;
  attempts: number;
}

/** How many payments are pending, and since when the oldest. */
export interface PendingStats {
  count: number;
  oldestCreatedAt: Date | null;
}

/**
 * All SQL of the payments domain, written once for both backends (server PostgreSQL and
 * embedded PGlite) through hotpath/db's Database interface.
 */
export class PaymentRepository {
  readonly #db: Database;
  readonly #reads: QueryExecutor;

  /**
   * `reads` serves the reads that may lag behind the last write (lists, latest payments, and
   * `readById`), e.g. hotpath/db's `ReplicaRouter.reader`; every other query goes to `db`.
   */
  constructor(db: Database, reads: QueryExecutor = db) {
    this.#db = db;
    this.#reads = reads;
  }

  /** Where the reads that may lag go (`db` unless a replica reader was given). */
  get reads(): QueryExecutor {
    return this.#reads;
  }

  /**
   * Inserts a pending payment. With an idempotency key already used, inserts nothing and
   * returns `undefined` (the unique constraint decides, so concurrent requests on several
   * processes still create one row).
   */
  async insertPending(
    id: string,
    input: PaymentInput,
    idempotencyKey: string | null,
    requestHash: string | null,
    holdMs: number,
  ): Promise<Payment | undefined> {
    // The creating request holds the payment for `holdMs`: the reconciler leaves it alone
    // until then, unless the request ends first with an unknown outcome.
    const { rows } = await this.#db.query<PaymentRow>(
      `INSERT INTO payments (id, user_id, amount, currency, status, idempotency_key, request_hash, next_attempt_at)
       VALUES ($1, $2, $3, $4, 'pending', $5, $6, now() + ($7::bigint * interval '1 millisecond'))
       ON CONFLICT (idempotency_key) DO NOTHING
       RETURNING ${COLUMNS}`,
      [id, input.user_id, input.amount, input.currency, idempotencyKey, requestHash, holdMs],
    );
    return rows[0] === undefined ? undefined : toPayment(rows[0]);
  }

  /**
   * Records `key` for the request whose body hashes to `requestHash` and whose payment will be
   * `paymentId`, unless the key is recorded already: then returns the record as stored (the
   * primary key decides, so concurrent requests on several processes agree on one record).
   */
  async recordIdempotencyKey(
    key: string,
    requestHash: string,
    paymentId: string,
  ): Promise<IdempotencyRecord> {
    const inserted = await this.#db.query<{ request_hash: string; payment_id: string }>(
      `INSERT INTO idempotency_keys (key, request_hash, payment_id) VALUES ($1, $2, $3)
       ON CONFLICT (key) DO NOTHING
       RETURNING request_hash, payment_id`,
      [key, requestHash, paymentId],
    );
    if (inserted.rows[0] !== undefined) return { requestHash, paymentId, created: true };
    // A conflicting insert waited for the other one to commit: a new statement sees its row.
    const { rows } = await this.#db.query<{ request_hash: string; payment_id: string }>(
      'SELECT request_hash, payment_id FROM idempotency_keys WHERE key = $1',
      [key],
    );
    const row = rows[0];
    if (row === undefined) throw new Error(`idempotency key ${key} conflicted but no row holds it`);
    return { requestHash: row.request_hash, paymentId: row.payment_id, created: false };
  }

  /**
   * Inserts a pending payment under the id its idempotency record names. Inserts nothing and
   * returns `undefined` when that payment exists (made by an earlier request, or a concurrent
   * one: the primary key decides).
   */
  async insertRecordedPending(
    id: string,
    input: PaymentInput,
    idempotencyKey: string,
    requestHash: string,
    holdMs: number,
  ): Promise<Payment | undefined> {
    const { rows } = await this.#db.query<PaymentRow>(
      `INSERT INTO payments (id, user_id, amount, currency, status, idempotency_key, request_hash, next_attempt_at)
       VALUES ($1, $2, $3, $4, 'pending', $5, $6, now() + ($7::bigint * interval '1 millisecond'))
       ON CONFLICT DO NOTHING
       RETURNING ${COLUMNS}`,
      [id, input.user_id, input.amount, input.currency, idempotencyKey, requestHash, holdMs],
    );
    return rows[0] === undefined ? undefined : toPayment(rows[0]);
  }

  /** A payment by id with the idempotency data it was created under. */
  async findStoredById(id: string): Promise<StoredPayment | undefined> {
    const { rows } = await this.#db.query<PaymentRow & { in_progress: boolean }>(
      `SELECT ${COLUMNS}, request_hash,
         (status = 'pending' AND attempts = 0 AND next_attempt_at > now()) AS in_progress
       FROM payments WHERE id = $1`,
      [id],
    );
    return storedPayment(rows[0]);
  }

  async findByIdempotencyKey(key: string): Promise<StoredPayment | undefined> {
    const { rows } = await this.#db.query<PaymentRow & { in_progress: boolean }>(
      `SELECT ${COLUMNS}, request_hash,
         (status = 'pending' AND attempts = 0 AND next_attempt_at > now()) AS in_progress
       FROM payments WHERE idempotency_key = $1`,
      [key],
    );
    return storedPayment(rows[0]);
  }

  /** Moves a pending payment to its final state; returns the payment as stored afterwards. */
  async finalize(
    id: string,
    status: FinalStatus,
    gatewayRef: string | null,
    failureReason: string | null,
  ): Promise<Payment | undefined> {
    const updated = await this.#db.query<PaymentRow>(
      `UPDATE payments SET status = $2, gateway_ref = $3, failure_reason = $4, updated_at = now()
       WHERE id = $1 AND status = 'pending'
       RETURNING ${COLUMNS}`,
      [id, status, gatewayRef, failureReason],
    );
    if (updated.rows[0] !== undefined) return toPayment(updated.rows[0]);
    // Another process finalized it first (recovery sweep racing a slow request): keep theirs.
    return this.findById(id);
  }

  async findById(id: string, executor: QueryExecutor = this.#db): Promise<Payment | undefined> {
    const { rows } = await executor.query<PaymentRow>(
      `SELECT ${COLUMNS} FROM payments WHERE id = $1`,
      [id],
    );
    return rows[0] === undefined ? undefined : toPayment(rows[0]);
  }

  /**
   * A payment from `reads`; one it does not have yet (a replica behind the primary) is looked
   * up on the primary, so a payment just created is never answered as missing.
   */
  async readById(id: string): Promise<Payment | undefined> {
    const payment = await this.findById(id, this.#reads);
    if (payment !== undefined || this.#reads === this.#db) return payment;
    return this.findById(id);
  }

  /** One page of a user's payments, newest first, after `beforeId` (keyset, index-only order). */
  async listByUser(
    userId: number,
    limit: number,
    beforeId: string | undefined,
  ): Promise<Payment[]> {
    const { rows } =
      beforeId === undefined
        ? await this.#reads.query<PaymentRow>(
            `SELECT ${COLUMNS} FROM payments WHERE user_id = $1 ORDER BY id DESC LIMIT $2`,
            [userId, limit],
          )
        : await this.#reads.query<PaymentRow>(
            `SELECT ${COLUMNS} FROM payments WHERE user_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3`,
            [userId, beforeId, limit],
          );
    return rows.map(toPayment);
  }

  /**
   * One page of a user's payments, newest first, after skipping `offset` rows: the naive
   * shape (PAGINATION=offset), whose cost grows with the offset.
   */
  async listByUserOffset(userId: number, limit: number, offset: number): Promise<Payment[]> {
    const { rows } = await this.#reads.query<PaymentRow>(
      `SELECT ${COLUMNS} FROM payments WHERE user_id = $1 ORDER BY id DESC LIMIT $2 OFFSET $3`,
      [userId, limit, offset],
    );
    return rows.map(toPayment);
  }

  /** The latest payment of one user: the naive path runs this once per user (N+1). */
  async latestByUser(userId: number): Promise<Payment | undefined> {
    const { rows } = await this.#reads.query<PaymentRow>(
      `SELECT ${COLUMNS} FROM payments WHERE user_id = $1 ORDER BY id DESC LIMIT 1`,
      [userId],
    );
    return rows[0] === undefined ? undefined : toPayment(rows[0]);
  }

  /** The latest payment of each user, in one query. */
  async latestByUsers(userIds: readonly number[]): Promise<Map<number, Payment>> {
    const { rows } = await this.#reads.query<PaymentRow>(LATEST_BY_USERS, [userIds]);
    return new Map(rows.map((row) => [Number(row.user_id), toPayment(row)]));
  }

  async summarize(userId: number, executor: QueryExecutor = this.#db): Promise<CurrencySummary[]> {
    const { rows } = await executor.query<{
      currency: string;
      status: PaymentStatus;
      n: number;
      total: number;
    }>(
      `SELECT currency, status, count(*)::bigint AS n, sum(amount)::bigint AS total
       FROM payments WHERE user_id = $1 GROUP BY currency, status ORDER BY currency, status`,
      [userId],
    );
    return rows.map((r) => ({
      currency: r.currency,
      status: r.status,
      count: Number(r.n),
      amount: Number(r.total),
    }));
  }

  /**
   * Keeps a payment pending and hands it to the reconciler after `delayMs`: its charge ended
   * without a definite answer (`reason`). Counts an attempt when `countAttempt`.
   */
  async deferPending(
    id: string,
    reason: string,
    delayMs: number,
    countAttempt: boolean,
  ): Promise<Payment | undefined> {
    const { rows } = await this.#db.query<PaymentRow>(
      `UPDATE payments SET attempts = attempts + $4::int, last_error = $2, updated_at = now(),
         next_attempt_at = now() + ($3::bigint * interval '1 millisecond')
       WHERE id = $1 AND status = 'pending'
       RETURNING ${COLUMNS}`,
      [id, reason, Math.round(delayMs), countAttempt ? 1 : 0],
    );
    return rows[0] === undefined ? this.findById(id) : toPayment(rows[0]);
  }

  /**
   * Claims up to `limit` pending payments that are due, oldest due first, for `leaseMs`: the
   * claim moves their next attempt past the lease, so no other sweep (here or in another
   * instance) takes them until it ends; rows locked by a concurrent claim are skipped.
   */
  async claimDue(limit: number, leaseMs: number): Promise<ClaimedPayment[]> {
    const { rows } = await this.#db.query<PaymentRow & { attempts: number }>(
      `UPDATE payments SET attempts = attempts + 1,
         next_attempt_at = now() + ($2::bigint * interval '1 millisecond')
       WHERE id IN (
         SELECT id FROM payments
         WHERE status = 'pending' AND next_attempt_at <= now()
         ORDER BY next_attempt_at LIMIT $1
         FOR UPDATE SKIP LOCKED)
       AND status = 'pending'
       RETURNING ${COLUMNS}, attempts`,
      [limit, Math.round(leaseMs)],
    );
    return rows.map((row) => ({ payment: toPayment(row), attempts: Number(row.attempts) }));
  }

  async pendingStats(): Promise<PendingStats> {
    const { rows } = await this.#db.query<{ n: number | string; oldest: Date | string | null }>(
      `SELECT count(*)::bigint AS n, min(created_at) AS oldest FROM payments WHERE status = 'pending'`,
    );
    const row = rows[0];
    return {
      count: Number(row?.n ?? 0),
      oldestCreatedAt: row?.oldest == null ? null : new Date(row.oldest),
    };
  }
}
