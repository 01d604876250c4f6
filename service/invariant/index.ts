/**
 * The money invariant: the service's payments and the gateway simulator's ledger never
 * disagree. `checkInvariant` reads both and reports what does; `formatReport` prints it.
 * `npm run reconcile` (scripts/reconcile.ts) is the command line.
 */
export { checkInvariant } from './check.js';
export type { CheckInvariantOptions } from './check.js';
export { formatReport } from './format.js';
export type { FormatReportOptions } from './format.js';
export type {
  AuthorizedAmounts,
  InvariantIssue,
  InvariantReport,
  InvariantTotals,
  PaymentSnapshot,
} from './report.js';
