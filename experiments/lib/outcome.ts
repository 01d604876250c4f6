/**
 * What one run of an experiment produced, as written to results.json and read by the
 * reports and the gate.
 */
import type { LoadResult } from 'hotpath/load';
import type { RoundFigures, RoundMetric } from '../experiment.js';
import type { KneeStep } from './measure.js';
import { median, type Direction, type RatioInterval } from './stats.js';

export interface KneeOutcome {
  /** Highest rate that held p99 < 100 ms and served 95% of its rate; null if none did. */
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
  roundMs: number;
  variants: VariantOutcome[];
  ratios: RatioOutcome[];
  /** Problems worth a reader's attention (errors, a generator at its limit). */
  warnings: string[];
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
