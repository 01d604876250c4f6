/**
 * What a scenario found, checked and printed: the money invariant's assertions and the
 * figures (recovery times, success share, acknowledged payments).
 */
import assert from 'node:assert/strict';
import { formatReport } from '../../service/invariant/index.js';
import type { ScenarioResult } from './harness.js';

function countBy<T>(items: readonly T[], key: (item: T) => string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const item of items) out[key(item)] = (out[key(item)] ?? 0) + 1;
  return out;
}

const seconds = (ms: number | undefined) =>
  ms === undefined ? 'not reached' : `${(ms / 1000).toFixed(2)} s`;

/** The figures, one line each (kept by the TAP stream as `# ` comments). */
export function printResult(r: ScenarioResult): void {
  const t = r.report.totals;
  const lines = [
    `fault scenario: ${r.name}`,
    `  requests ${r.run.sent}, 2xx ${r.run.succeeded} (${(r.successShare * 100).toFixed(1)}%), acknowledged ${r.run.acknowledged.size}`,
    `  answers ${JSON.stringify(r.run.byStatus)}; errors ${JSON.stringify(r.run.byCode)}`,
    `  recovery after the heal: ready ${seconds(r.recovery.readyMs)}, serving ${seconds(r.recovery.servingMs)}, pending drained ${seconds(r.recovery.drainedMs)} (${r.settledLater} payments settled after their request)`,
    `  payments ${JSON.stringify(r.outcomes)}`,
    ...(r.resent.length === 0
      ? []
      : [
          `  sent again (same key): ${r.resent.length}, answers ${JSON.stringify(countBy(r.resent, (a) => String(a.httpStatus)))}`,
        ]),
    `  invariant: lost ${t.lost}, double-charged ${t.doubleCharged}, mismatch ${t.mismatch}, pending ${t.pending}, orphan charges ${t.orphanCharges}, contradicted answers ${r.contradicted.length}`,
  ];
  if (!r.report.ok || t.pending > 0 || t.orphanCharges > 0)
    lines.push(...formatReport(r.report, { maxIssues: 5 }).split('\n'));
  for (const c of r.contradicted.slice(0, 5))
    lines.push(`  contradicted: ${c.id} answered ${c.answered}, stored ${c.stored}`);
  // Node's TAP reporter turns each line printed by a test into a `# ` comment of its own.
  for (const line of lines) console.log(line);
}

/** Why a payment may be `failed`: the gateway refused it (4xx) or no attempt was sent. */
export const NOTHING_SENT_REASONS = ['gateway_circuit_open', 'gateway_busy'];

/**
 * The `failed` outcomes that break the rule "failed only when the gateway refused or nothing
 * was sent" (a timeout, a reset or a 5xx leaves a payment pending instead).
 */
export function failedForWantOfAnAnswer(result: ScenarioResult): Record<string, number> {
  return Object.fromEntries(
    Object.entries(result.outcomes).filter(([outcome]) => {
      if (!outcome.startsWith('failed')) return false;
      const reason = outcome.slice('failed '.length);
      return !NOTHING_SENT_REASONS.includes(reason) && !reason.startsWith('gateway_rejected_');
    }),
  );
}

/**
 * Checks the money invariant after a scenario: nothing acknowledged lost, nothing charged
 * twice, every final state the gateway's, nothing pending, no charge without a payment, no
 * final answer contradicted later, and no payment failed for want of an answer.
 * @throws AssertionError listing what broke.
 */
export function assertMoneyInvariant(result: ScenarioResult): void {
  const t = result.report.totals;
  const broken = {
    lost: t.lost,
    doubleCharged: t.doubleCharged,
    mismatch: t.mismatch,
    pending: t.pending,
    orphanCharges: t.orphanCharges,
    contradicted: result.contradicted.length,
  };
  const detail = `${result.name}\n${formatReport(result.report, { maxIssues: 10 })}\n${JSON.stringify(result.contradicted.slice(0, 10))}`;
  assert.deepEqual(
    broken,
    { lost: 0, doubleCharged: 0, mismatch: 0, pending: 0, orphanCharges: 0, contradicted: 0 },
    detail,
  );
  assert.deepEqual(
    failedForWantOfAnAnswer(result),
    {},
    `${result.name}: ${JSON.stringify(result.outcomes)}`,
  );
  assert.ok(result.run.acknowledged.size > 0, `${result.name}: nothing was acknowledged`);
}
