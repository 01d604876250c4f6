/** A payment's life: created `pending`, then exactly one of the final states. */
export type PaymentStatus = 'pending' | 'authorized' | 'declined' | 'failed';
export type FinalStatus = Exclude<PaymentStatus, 'pending'>;

/** A payment as the API shows it. Amounts are integer minor units (cents). */
export interface Payment {
  id: string;
  user_id: number;
  amount: number;
  currency: string;
  status: PaymentStatus;
  gateway_ref: string | null;
  failure_reason: string | null;
  created_at: string;
  updated_at: string;
}

/** A new payment's input, validated. */
export interface PaymentInput {
  user_id: number;
  amount: number;
  currency: string;
}

export interface CurrencySummary {
  currency: string;
  status: PaymentStatus;
  count: number;
  amount: number;
}

export interface UserSummary {
  user_id: number;
  payments: number;
  /** Sum of authorized amounts per currency, in minor units. */
  authorized: Record<string, number>;
  by_status: Record<PaymentStatus, number>;
  breakdown: CurrencySummary[];
}
