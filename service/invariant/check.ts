/**
 * The money invariant, checked: the service's payments table and the gateway's ledger must
 * never disagree. Reads every payments row (in keyset pages) and then every ledger charge,
 * and sorts what disagrees into categories (report.ts).
 *
 * Rows are read before the ledger on purpose. The service inserts a pending row before it
 * charges and stores the outcome after the gateway answered, so a row read as authorized (or
 * declined) has its charge in a ledger read afterwards; payments created during the check can
 * only show up as pending, or as orphan charges, which do not fail the check.
 */
import type { Database } from 'hotpath/db';
import type { LedgerCharge } from '../gateway/ledger.js';
import { readLedger, type LedgerSource } from './read-ledger.js';
import type {
  AuthorizedAmounts,
  InvariantIssue,
  InvariantReport,
  PaymentSnapshot,
} from './report.js';

/** Options of {@link checkInvariant}; give `gatewayUrl` or `ledgerFile`. */
export interface CheckInvariantOptions {
  /**
   * The service's database (payments table at schema version 1 or later), or every shard of a
   * sharded service (DATABASE_SHARD_URLS), in shard order.
   */
  db: Database | readonly Database[];
  /** The gateway simulator, read through `GET /v1/ledger`. */
  gatewayUrl?: string;
  /** Or the simulator's ledger file, read directly (the simulator may be stopped). */
  ledgerFile?: string;
  /** Payment ids a client was answered 201/202 for: each must have a row. */
  acknowledged?: Iterable<string>;
  /** Rows per query. Default 5,000. */
  pageSize?: number;
  signal?: AbortSignal;
}

interface PaymentRow {
  id: string;
  status: PaymentSnapshot['status'];
  amount: string;
  currency: string;
  gateway_ref: string | null;
  idempotency_key: string | null;
}

const COLUMNS =
  'id::text AS id, status, amount::text AS amount, currency, gateway_ref, idempotency_key';

/** Issues of one category, one per id; a second reason for an id is appended to its detail. */
class Category {
  readonly #issues = new Map<string, InvariantIssue>();

  add(id: string, detail: string, payment?: PaymentSnapshot, charge?: LedgerCharge): void {
    const existing = this.#issues.get(id);
    if (existing !== undefined) {
      existing.detail += `; ${detail}`;
      return;
    }
    this.#issues.set(id, {
      id,
      detail,
      ...(payment === undefined ? {} : { payment }),
      ...(charge === undefined ? {} : { charge }),
    });
  }

  list(): InvariantIssue[] {
    return [...this.#issues.values()];
  }
}

/** Every payments row of every shard; an id on two shards is put in `duplicates`. */
async function readAllPayments(
  dbs: readonly Database[],
  pageSize: number,
  signal: AbortSignal | undefined,
  duplicates: Category,
): Promise<Map<string, PaymentSnapshot>> {
  const payments = new Map<string, PaymentSnapshot>();
  const shardOf = new Map<string, number>();
  for (const [index, db] of dbs.entries()) {
    for (const [id, payment] of await readPayments(db, pageSize, signal)) {
      const first = shardOf.get(id);
      if (first !== undefined) {
        duplicates.add(id, `a row on shard ${first} and another on shard ${index}`, payment);
        continue;
      }
      shardOf.set(id, index);
      payments.set(id, payment);
    }
  }
  return payments;
}

async function readPayments(
  db: Database,
  pageSize: number,
  signal: AbortSignal | undefined,
): Promise<Map<string, PaymentSnapshot>> {
  const payments = new Map<string, PaymentSnapshot>();
  let after: string | undefined;
  for (;;) {
    signal?.throwIfAborted();
    const { rows } =
      after === undefined
        ? await db.query<PaymentRow>(`SELECT ${COLUMNS} FROM payments ORDER BY id LIMIT $1`, [
            pageSize,
          ])
        : await db.query<PaymentRow>(
            `SELECT ${COLUMNS} FROM payments WHERE id > $1::uuid ORDER BY id LIMIT $2`,
            [after, pageSize],
          );
    for (const row of rows) payments.set(row.id, { ...row, amount: Number(row.amount) });
    if (rows.length < pageSize) return payments;
    after = rows[rows.length - 1]?.id;
  }
}

const money = (amount: number, currency: string) => `${amount} ${currency}`;

/**
 * Checks that the service's payments (on every shard) and the gateway's ledger agree, and
 * reports each payment that is lost, double-charged (a charge made twice, a key charged by two
 * rows on any shards, an id on two shards), mismatched or pending, and each orphan charge.
 * @throws Error when neither or both of `gatewayUrl` and `ledgerFile` are given, or the
 *   database or the ledger cannot be read.
 * @example
 * const report = await checkInvariant({ db, gatewayUrl: 'http://127.0.0.1:3001' });
 * if (!report.ok) console.error(formatReport(report));
 */
export async function checkInvariant(options: CheckInvariantOptions): Promise<InvariantReport> {
  const { db, signal } = options;
  const pageSize = options.pageSize ?? 5000;
  if (!Number.isInteger(pageSize) || pageSize < 1)
    throw new Error(`pageSize: expected a positive integer, got ${pageSize}`);
  let source: LedgerSource;
  if (options.gatewayUrl !== undefined && options.ledgerFile === undefined)
    source = { gatewayUrl: options.gatewayUrl };
  else if (options.ledgerFile !== undefined && options.gatewayUrl === undefined)
    source = { ledgerFile: options.ledgerFile };
  else throw new Error('gatewayUrl, ledgerFile: give exactly one');

  const doubleCharged = new Category();
  const dbs: readonly Database[] = Array.isArray(db) ? db : [db as Database];
  const payments = await readAllPayments(dbs, pageSize, signal, doubleCharged);
  const ledger = await readLedger(source, signal);
  const charges = new Map<string, LedgerCharge>();
  for await (const charge of ledger.charges) {
    const seen = charges.get(charge.id);
    if (seen === undefined) charges.set(charge.id, charge);
    else seen.creations += charge.creations;
  }
  signal?.throwIfAborted();

  const lost = new Category();
  const mismatch = new Category();
  const pending = new Category();
  const orphanCharges = new Category();
  const authorized = new Map<string, { payments: bigint; gateway: bigint }>();
  const sums = (currency: string) => {
    let entry = authorized.get(currency);
    if (entry === undefined) authorized.set(currency, (entry = { payments: 0n, gateway: 0n }));
    return entry;
  };
  // Payment ids charged (here or at the gateway) per idempotency key.
  const chargedByKey = new Map<string, string[]>();

  for (const payment of payments.values()) {
    const { id, status } = payment;
    const charge = charges.get(id);
    if (status === 'authorized') sums(payment.currency).payments += BigInt(payment.amount);

    if (charge !== undefined) {
      if (charge.creations > 1)
        doubleCharged.add(id, `created ${charge.creations} times at the gateway`, payment, charge);
      if (charge.amount !== payment.amount || charge.currency !== payment.currency)
        doubleCharged.add(
          id,
          `gateway charged ${money(charge.amount, charge.currency)}, the payment is ${money(payment.amount, payment.currency)}`,
          payment,
          charge,
        );
    }

    const gatewayState = charge === undefined ? 'no charge at the gateway' : charge.status;
    if (status === 'pending') {
      pending.add(id, `pending here, gateway: ${gatewayState}`, payment, charge);
    } else if (status === 'authorized') {
      if (charge?.status !== 'authorized')
        mismatch.add(id, `authorized here, gateway: ${gatewayState}`, payment, charge);
      else if (payment.gateway_ref !== charge.reference)
        mismatch.add(
          id,
          `authorized here with reference ${payment.gateway_ref}, gateway reference ${charge.reference}`,
          payment,
          charge,
        );
    } else if (status === 'declined') {
      if (charge?.status !== 'declined')
        mismatch.add(id, `declined here, gateway: ${gatewayState}`, payment, charge);
    } else if (charge?.status === 'authorized') {
      mismatch.add(id, `${status} here, gateway: authorized`, payment, charge);
    }

    const isCharged = status === 'authorized' || charge?.status === 'authorized';
    if (isCharged && payment.idempotency_key !== null) {
      const ids = chargedByKey.get(payment.idempotency_key);
      if (ids === undefined) chargedByKey.set(payment.idempotency_key, [id]);
      else ids.push(id);
    }
  }

  for (const [key, ids] of chargedByKey) {
    if (ids.length < 2) continue;
    for (const id of ids)
      doubleCharged.add(
        id,
        `idempotency key ${JSON.stringify(key)} charged by ${ids.length} payments: ${ids.join(', ')}`,
        payments.get(id),
        charges.get(id),
      );
  }

  for (const charge of charges.values()) {
    if (charge.status === 'authorized')
      sums(charge.currency).gateway += BigInt(charge.amount) * BigInt(charge.creations);
    if (!payments.has(charge.id))
      orphanCharges.add(
        charge.id,
        `${charge.status} at the gateway, no payment row`,
        undefined,
        charge,
      );
  }

  let acknowledgedCount = 0;
  for (const raw of options.acknowledged ?? []) {
    acknowledgedCount += 1;
    const id = raw.toLowerCase();
    if (!payments.has(id))
      lost.add(id, 'acknowledged to a client, no payment row', undefined, charges.get(id));
  }

  const report: InvariantReport = {
    ok: false,
    ledgerComplete: ledger.complete,
    totals: {
      payments: payments.size,
      charges: charges.size,
      acknowledged: acknowledgedCount,
      lost: 0,
      doubleCharged: 0,
      mismatch: 0,
      pending: 0,
      orphanCharges: 0,
      authorized: Object.fromEntries(
        [...authorized]
          .sort(([a], [b]) => a.localeCompare(b))
          .map(([currency, s]): [string, AuthorizedAmounts] => [
            currency,
            { payments: String(s.payments), gateway: String(s.gateway) },
          ]),
      ),
    },
    lost: lost.list(),
    doubleCharged: doubleCharged.list(),
    mismatch: mismatch.list(),
    pending: pending.list(),
    orphanCharges: orphanCharges.list(),
  };
  const t = report.totals;
  t.lost = report.lost.length;
  t.doubleCharged = report.doubleCharged.length;
  t.mismatch = report.mismatch.length;
  t.pending = report.pending.length;
  t.orphanCharges = report.orphanCharges.length;
  report.ok = t.lost === 0 && t.doubleCharged === 0 && t.mismatch === 0;
  return report;
}
