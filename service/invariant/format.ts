/** The money invariant report (report.ts) as text for a terminal. */
import type { InvariantIssue, InvariantReport } from './report.js';

/** Options of {@link formatReport}. */
export interface FormatReportOptions {
  /** Issues listed per category; the rest are counted. Default 20. */
  maxIssues?: number;
}

const CATEGORIES = [
  ['lost', 'lost (acknowledged, no payment row)'],
  ['doubleCharged', 'double-charged'],
  ['mismatch', 'mismatch (payment and gateway disagree)'],
  ['pending', 'pending'],
  ['orphanCharges', 'orphan charges (gateway charge, no payment row)'],
] as const;

/**
 * Formats a report: a verdict line, the totals, authorized money per currency, then each
 * non-empty category with its first issues.
 */
export function formatReport(report: InvariantReport, options: FormatReportOptions = {}): string {
  const maxIssues = options.maxIssues ?? 20;
  const t = report.totals;
  const lines = [
    `money invariant ${report.ok ? 'holds' : 'VIOLATED'}`,
    `  payments ${t.payments}, gateway charges ${t.charges}, acknowledged ids ${t.acknowledged}`,
    `  lost ${t.lost}, double-charged ${t.doubleCharged}, mismatch ${t.mismatch}, pending ${t.pending}, orphan charges ${t.orphanCharges}`,
  ];
  for (const [currency, amounts] of Object.entries(t.authorized)) {
    const same = amounts.payments === amounts.gateway ? '' : '  (differ)';
    lines.push(
      `  authorized ${currency} (minor units): payments ${amounts.payments}, gateway ${amounts.gateway}${same}`,
    );
  }
  if (!report.ledgerComplete)
    lines.push(
      '  warning: the gateway forgot charges (maxCharges without a ledger file): the check is incomplete',
    );
  for (const [key, title] of CATEGORIES) {
    const issues: InvariantIssue[] = report[key];
    if (issues.length === 0) continue;
    lines.push('', `${title}: ${issues.length}`);
    for (const issue of issues.slice(0, maxIssues)) lines.push(`  ${issue.id}  ${issue.detail}`);
    if (issues.length > maxIssues) lines.push(`  … and ${issues.length - maxIssues} more`);
  }
  return lines.join('\n');
}
