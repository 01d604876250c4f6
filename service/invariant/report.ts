/**
 * The typed result of the money invariant check (check.ts): per category, the payments that
 * break it, and totals.
 */
import type { LedgerCharge } from '../gateway/ledger.js';

/** The columns of a payments row the check reads. */
export interface PaymentSnapshot {
  id: string;
  status: 'pending' | 'authorized' | 'declined' | 'failed';
  amount: number;
  currency: string;
  gateway_ref: string | null;
  idempotency_key: string | null;
}

/** One payment (or gateway charge) in one category, with why. */
export interface InvariantIssue {
  /** The payment id (the gateway's charge id). */
  id: string;
  /** Why it is in this category; several reasons are joined with `; `. */
  detail: string;
  /** The service's row, when there is one. */
  payment?: PaymentSnapshot;
  /** The gateway's ledger charge, when there is one. */
  charge?: LedgerCharge;
}

/** Authorized money in one currency, in minor units, as decimal strings (sums can pass 2^53). */
export interface AuthorizedAmounts {
  /** Sum over payments rows with status `authorized`. */
  payments: string;
  /** Sum over authorized ledger charges, each counted once per creation. */
  gateway: string;
}

export interface InvariantTotals {
  /** Rows in payments. */
  payments: number;
  /** Charges in the gateway's ledger. */
  charges: number;
  /** Payment ids a client was answered 201/202 for, as given. */
  acknowledged: number;
  lost: number;
  doubleCharged: number;
  mismatch: number;
  pending: number;
  orphanCharges: number;
  /** Per currency code. */
  authorized: Record<string, AuthorizedAmounts>;
}

/** The result of {@link checkInvariant}. */
export interface InvariantReport {
  /** True when nothing is lost, double-charged or mismatched (pending and orphans allowed). */
  ok: boolean;
  /** False when the gateway forgot charges (maxCharges without a ledger file): then the check cannot be trusted. */
  ledgerComplete: boolean;
  totals: InvariantTotals;
  /** Acknowledged ids with no payments row: the client was told yes, the service forgot. */
  lost: InvariantIssue[];
  /**
   * A charge created more than once at the gateway, two rows charged under one idempotency
   * key, or a charge whose amount or currency differs from its row's.
   */
  doubleCharged: InvariantIssue[];
  /** The row's final state disagrees with the gateway (see docs/gateway-simulator.md). */
  mismatch: InvariantIssue[];
  /** Rows still pending: not wrong yet, the reconciler should settle them. */
  pending: InvariantIssue[];
  /** Gateway charges with no payments row. */
  orphanCharges: InvariantIssue[];
}
