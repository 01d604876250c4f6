/**
 * The overload verdicts of the protection experiment: goodput against the naive knee's,
 * p99 of admitted requests against each variant's own unloaded p99, and the table that
 * reports them (experiments/lib/outcome.ts, report-markdown.ts).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { RoundFigures } from '../../experiments/experiment.js';
import {
  judgeOverload,
  type ExperimentOutcome,
  type VariantOutcome,
} from '../../experiments/lib/outcome.js';
import { experimentMarkdown } from '../../experiments/lib/report-markdown.js';

function figures(over: Partial<RoundFigures>): RoundFigures {
  return {
    requests: 1000,
    rps: 1000,
    goodput: 1000,
    errorShare: 0,
    refusedShare: 0,
    limitedShare: 0,
    shedShare: 0,
    p50Ms: 5,
    p99Ms: 20,
    admittedP99Ms: 20,
    p50RiseMs: 0,
    cpuPerRequestMs: 1,
    queriesPerRequest: 1,
    bytesPerResponse: 100,
    eventLoopP99Ms: 10,
    rssMb: 100,
    ...over,
  };
}

function variant(name: string, loaded: Partial<RoundFigures>, unloadedP99Ms: number) {
  const medians = figures(loaded);
  const unloaded = figures({ admittedP99Ms: unloadedP99Ms });
  return {
    name,
    env: {},
    isEmbedded: false,
    knee: null,
    rounds: [medians],
    medians,
    results: [],
    unloaded: { rounds: [unloaded], medians: unloaded },
  } satisfies VariantOutcome;
}

const GOALS = { goodputOfKnee: 0.9, p99OfUnloaded: 2 };

describe('overload verdicts', () => {
  test('judge goodput against the knee’s and p99 of admitted against the unloaded p99', () => {
    const variants = [
      // Serves everything, late: goodput holds, p99 does not.
      variant('unprotected', { goodput: 500, admittedP99Ms: 3000, p50RiseMs: 1500 }, 15),
      // Refuses the excess: both goals met.
      variant(
        'protected',
        { goodput: 460, admittedP99Ms: 29, limitedShare: 0.05, shedShare: 0.4 },
        15,
      ),
      // Refuses too much: goodput not met.
      variant('strict', { goodput: 400, admittedP99Ms: 16, shedShare: 0.6 }, 15),
    ];
    const o = judgeOverload(variants, { rate: 500, goodput: 500 }, 125, GOALS);
    assert.deepEqual(
      o.verdicts.map((v) => [
        v.variant,
        v.goodputOfKnee,
        v.p99OfUnloaded,
        v.isGoodputMet,
        v.isP99Met,
      ]),
      [
        ['unprotected', 1, 200, true, false],
        ['protected', 0.92, 29 / 15, true, true],
        ['strict', 0.8, 16 / 15, false, true],
      ],
    );
    assert.deepEqual([o.kneeRate, o.kneeGoodput, o.unloadedRate], [500, 500, 125]);
  });

  test('the report has one overload row per variant with its goals, and says when the knee is missing', () => {
    const variants = [
      variant('unprotected', { goodput: 500, admittedP99Ms: 3000 }, 15),
      variant(
        'protected',
        { goodput: 460, admittedP99Ms: 29, limitedShare: 0.05, shedShare: 0.4 },
        15,
      ),
    ];
    const base: ExperimentOutcome = {
      name: 'protection',
      technique: 't',
      description: 'd',
      reports: 'r',
      dataset: { name: 'standard', users: 1000, payments: 100_000 },
      commonRate: 1000,
      rateBasis: '2x the knee of unprotected',
      connections: 100,
      roundMs: 3000,
      variants,
      ratios: [],
      warnings: [],
      env: { GATEWAY_LATENCY: 'fixed:5' },
      overload: judgeOverload(variants, { rate: 500, goodput: 500 }, 125, GOALS),
    };
    const md = experimentMarkdown(base);
    assert.match(md, /Every variant with `GATEWAY_LATENCY=fixed:5`\./);
    assert.match(
      md,
      /^\| unprotected \| 500\/s \(\*\*1\.00x\*\*\) \| 0\.0% \| 0\.0% \| 3000\.0 ms \| 15\.0 ms \| \*\*200\.00x\*\* \| 0 ms \| p99 not met \|$/m,
    );
    assert.match(
      md,
      /^\| protected \| 460\/s \(\*\*0\.92x\*\*\) \| 5\.0% \| 40\.0% \| 29\.0 ms \| 15\.0 ms \| \*\*1\.93x\*\* \| 0 ms \| met \|$/m,
    );
    const noKnee = experimentMarkdown({
      ...base,
      overload: judgeOverload(variants, { rate: null, goodput: Number.NaN }, 10, GOALS),
    });
    assert.match(noKnee, /unprotected has no knee, so goodput is not judged/);
    assert.match(noKnee, /^\| protected \| 460\/s \(n\/a\) .* \| goodput not judged \|$/m);
  });
});
