/**
 * The committed baseline (experiments/baseline.json): per experiment and optimized variant,
 * the ratio over its naive twin of the experiment's primary figure, and the gate that
 * compares a run with it.
 */
import type { ExperimentOutcome } from './outcome.js';
import { judge, type BaselinePair, type GateVerdict } from './stats.js';

export interface BaselineFile {
  v: 1;
  /** The command and machine that measured it. */
  command: string;
  machine: string;
  date: string;
  experiments: Record<string, Record<string, BaselinePair>>;
  /**
   * Experiments whose entries a later run wrote (`--write-baseline` onto an existing file
   * replaces only the experiments it ran): the command, machine and date of each.
   */
  sources?: Record<string, { command: string; machine: string; date: string }>;
}

export function baselineFrom(
  outcomes: readonly ExperimentOutcome[],
  command: string,
  machine: string,
): BaselineFile {
  const experiments: BaselineFile['experiments'] = {};
  for (const o of outcomes) {
    const pairs: Record<string, BaselinePair> = {};
    for (const r of o.ratios) {
      if (!r.isGated || !Number.isFinite(r.interval.ratio)) continue;
      pairs[r.variant] = {
        metric: r.metric,
        direction: r.direction,
        ratio: r.interval.ratio,
        low: r.interval.low,
        high: r.interval.high,
        rounds: r.interval.rounds,
      };
    }
    if (Object.keys(pairs).length > 0) experiments[o.name] = pairs;
  }
  return { v: 1, command, machine, date: new Date().toISOString(), experiments };
}

/**
 * `previous` with the experiments of `update` replaced (an experiment this run measured but
 * gated nothing of loses its old entry too), each replaced one recorded in `sources`; the
 * other experiments' entries, command and machine are kept as they were.
 */
export function mergeBaseline(
  previous: BaselineFile,
  update: BaselineFile,
  ran: readonly string[],
): BaselineFile {
  const experiments = { ...previous.experiments };
  const sources = { ...previous.sources };
  for (const name of ran) {
    delete experiments[name];
    const pairs = update.experiments[name];
    if (pairs !== undefined) experiments[name] = pairs;
    sources[name] = { command: update.command, machine: update.machine, date: update.date };
  }
  return { ...previous, experiments, sources };
}

/**
 * Every gated pair of this run that the baseline knows, judged against it. A pair measured
 * on another figure than the baseline's, or with fewer than 5 rounds, cannot be judged and
 * counts as a failure: the gate must not pass by not looking.
 */
export function compareWithBaseline(
  outcomes: readonly ExperimentOutcome[],
  baseline: BaselineFile,
): GateVerdict[] {
  const verdicts: GateVerdict[] = [];
  for (const o of outcomes) {
    const known = baseline.experiments[o.name];
    if (known === undefined) continue;
    for (const r of o.ratios) {
      const base = known[r.variant];
      if (base === undefined || !r.isGated) continue;
      const name = `${o.name} / ${r.variant}`;
      if (base.metric !== r.metric) {
        verdicts.push({
          isRegression: true,
          message: `${name}: the baseline gates ${base.metric}, this run measured ${r.metric}; write a new baseline`,
        });
      } else if (r.interval.rounds < 5) {
        verdicts.push({
          isRegression: true,
          message: `${name}: ${r.interval.rounds} rounds; the gate needs at least 5 (--rounds 5)`,
        });
      } else {
        verdicts.push(judge(name, r.interval, base));
      }
    }
  }
  return verdicts;
}
