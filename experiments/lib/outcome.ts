/**
 * What one run of an experiment produced, as written to results.json and read by the
 * reports and the gate.
 */
import type { LoadResult } from 'hotpath/load';
import type { RoundFigures, RoundMetric } from '../experiment.js';
import type { KneeStep } from './measure.js';
import { median, type Direction, type RatioInterval } from './stats.js';

export interface KneeOutcome {
  /** Highest rate that held the knee target and served 95% of its rate; null if none did. */
  rate: number | null;
  /** Steps in which the generator fell behind its schedule (judged on their latency). */
  lateSteps: number;
  steps: {
    rate: number;
    isPassed: boolean;
    p99Ms: number;
    rps: number;
    isGeneratorLate: boolean;
  }[];
}

export interface VariantOutcome {
  name: string;
  env: Record<string, string>;
  isEmbedded: boolean;
  knee: KneeOutcome | null;
  rounds: RoundFigures[];
  /** Median of each figure over the rounds. */
  medians: RoundFigures;
  /** The rounds' load results (timelines and histograms), for the HTML report. */
  results: LoadResult[];
  /** Overload experiments: the rounds at the unloaded rate, and their medians. */
  unloaded?: { rounds: RoundFigures[]; medians: RoundFigures };
}

/** One variant judged at the overload rate against the naive knee and its own unloaded p99. */
export interface OverloadVerdict {
  variant: string;
  goodput: number;
  /** Goodput over the naive knee's goodput. */
  goodputOfKnee: number;
  admittedP99Ms: number;
  unloadedP99Ms: number;
  /** p99 of admitted requests at the overload rate over the variant's unloaded p99. */
  p99OfUnloaded: number;
  limitedShare: number;
  shedShare: number;
  p50RiseMs: number;
  isGoodputMet: boolean;
  isP99Met: boolean;
}

/** What an overload experiment reports beside its table. */
export interface OverloadOutcome {
  /** The naive variant's knee (null: none found, goodput then not judged), and its goodput in the knee step. */
  kneeRate: number | null;
  kneeGoodput: number;
  unloadedRate: number;
  goals: { goodputOfKnee: number; p99OfUnloaded: number };
  verdicts: OverloadVerdict[];
}

export interface RatioOutcome {
  variant: string;
  metric: RoundMetric;
  direction: Direction;
  interval: RatioInterval;
  /** Knee of this variant over the naive one's (higher is better), when both were searched. */
  kneeRatio: number | null;
  isGated: boolean;
}

export interface ExperimentOutcome {
  name: string;
  technique: string;
  description: string;
  reports: string;
  dataset: { name: string; users: number; payments: number };
  commonRate: number;
  /** How the common rate was chosen, in words. */
  rateBasis: string;
  connections: number;
  /** What a knee step had to hold (`p99<100ms` unless the experiment says otherwise). */
  kneeTarget?: string;
  roundMs: number;
  variants: VariantOutcome[];
  ratios: RatioOutcome[];
  /** Problems worth a reader's attention (errors, a generator at its limit). */
  warnings: string[];
  /** Shared settings of every variant (the experiment's `env`). */
  env?: Record<string, string>;
  /** Overload experiments: the goals judged per variant. */
  overload?: OverloadOutcome;
}

export function summarizeSteps(steps: readonly KneeStep[]): KneeOutcome['steps'] {
  return steps.map((s) => ({
    rate: s.rate,
    isPassed: s.isPassed,
    p99Ms: (s.result.latency.percentiles['99'] ?? NaN) / 1000,
    rps: s.result.requestsPerSecond,
    isGeneratorLate: s.isGeneratorLate,
  }));
}

export function medianFigures(rounds: readonly RoundFigures[]): RoundFigures {
  const keys = Object.keys(rounds[0] ?? {}) as RoundMetric[];
  const out = {} as RoundFigures;
  for (const key of keys) out[key] = median(rounds.map((r) => r[key]));
  return out;
}

/** Judges each variant of an overload experiment (see {@link OverloadOutcome}). */
export function judgeOverload(
  variants: readonly VariantOutcome[],
  knee: { rate: number | null; goodput: number },
  unloadedRate: number,
  goals: { goodputOfKnee: number; p99OfUnloaded: number },
): OverloadOutcome {
  return {
    kneeRate: knee.rate,
    kneeGoodput: knee.goodput,
    unloadedRate,
    goals,
    verdicts: variants.map((v) => {
      const m = v.medians;
      const unloadedP99Ms = v.unloaded?.medians.admittedP99Ms ?? NaN;
      const goodputOfKnee = m.goodput / knee.goodput;
      const p99OfUnloaded = m.admittedP99Ms / unloadedP99Ms;
      return {
        variant: v.name,
        goodput: m.goodput,
        goodputOfKnee,
        admittedP99Ms: m.admittedP99Ms,
        unloadedP99Ms,
        p99OfUnloaded,
        limitedShare: m.limitedShare,
        shedShare: m.shedShare,
        p50RiseMs: m.p50RiseMs,
        isGoodputMet: goodputOfKnee >= goals.goodputOfKnee,
        isP99Met: p99OfUnloaded <= goals.p99OfUnloaded,
      };
    }),
  };
}
