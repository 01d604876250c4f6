import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { seededRandom } from 'hotpath/load';
import { compareWithBaseline, type BaselineFile } from '../../experiments/lib/baseline.js';
import type { ExperimentOutcome } from '../../experiments/lib/outcome.js';
import {
  bootstrapRatio,
  improvement,
  judge,
  pairedRatio,
  ratioOfMedians,
  studentQuantile,
} from '../../experiments/lib/stats.js';

/**
 * Server CPU per request (ms) recorded by `npm run experiments -- --smoke` (n-plus-one,
 * naive N+1 then batched): the centres the simulated runs below are drawn around.
 */
const RECORDED = { naive: 6.3, optimized: 2.7 };
const SEEDS = 500;

function gauss(random: () => number): number {
  let u = 0;
  while (u === 0) u = random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
}

/**
 * One simulated run: each round shares a machine-load factor (lognormal, 10%) between the two
 * variants, and each figure has its own noise of coefficient of variation `cv`. `slowdown`
 * multiplies the optimized variant's cost (1/0.9: its ratio over naive falls by 10%).
 */
function run(seed: number, rounds: number, cv: number, slowdown = 1) {
  const random = seededRandom(seed);
  const naive: number[] = [];
  const optimized: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const load = Math.exp(0.1 * gauss(random));
    naive.push(RECORDED.naive * load * (1 + cv * gauss(random)));
    optimized.push(RECORDED.optimized * slowdown * load * (1 + cv * gauss(random)));
  }
  return { naive, optimized };
}

const BASELINE_RATIO = RECORDED.naive / RECORDED.optimized;

function alarmRate(rounds: number, cv: number, slowdown: number): number {
  let alarms = 0;
  for (let seed = 1; seed <= SEEDS; seed++) {
    const { naive, optimized } = run(seed, rounds, cv, slowdown);
    const interval = bootstrapRatio(naive, optimized, 'lower', { seed, resamples: 2000 });
    if (judge('x', interval, { ratio: BASELINE_RATIO, metric: 'cpuPerRequestMs' }).isRegression)
      alarms++;
  }
  return alarms / SEEDS;
}

describe('the regression gate statistics', () => {
  test('the same samples and seed give the same interval', () => {
    const { naive, optimized } = run(3, 5, 0.06);
    assert.deepEqual(
      bootstrapRatio(naive, optimized, 'lower', { seed: 9 }),
      bootstrapRatio(naive, optimized, 'lower', { seed: 9 }),
    );
  });

  test('ratios read above 1 as better for a cost and for a yield alike', () => {
    assert.equal(improvement(10, 5, 'lower'), 2);
    assert.equal(improvement(100, 200, 'higher'), 2);
    assert.equal(ratioOfMedians([10, 12, 8], [5, 6, 4], 'lower'), 2);
    assert.ok(Math.abs(pairedRatio([10, 20], [5, 10], 'lower') - 2) < 1e-12);
    assert.ok(Number.isNaN(improvement(10, 0, 'lower')));
  });

  test("Student's t quantiles are those of the tables (df 4: 2.132, df 9: 1.833 at 5%)", () => {
    assert.ok(Math.abs(studentQuantile(0.05, 4) - 2.132) < 0.01);
    assert.ok(Math.abs(studentQuantile(0.05, 9) - 1.833) < 0.01);
  });

  test('A/A runs of 5 rounds with 5% or 8% noise raise an alarm in at most 7% of 500 seeds', (t) => {
    for (const cv of [0.05, 0.08]) {
      const rate = alarmRate(5, cv, 1);
      t.diagnostic(`A/A, 5 rounds, cv ${cv}: false alarms ${(rate * 100).toFixed(1)}%`);
      assert.ok(rate <= 0.07, `false alarms ${rate} at cv ${cv}`);
    }
  });

  test('a 10% regression with 5% noise is caught in at least 80% of 500 seeded 5-round runs', (t) => {
    const rate = alarmRate(5, 0.05, 1 / 0.9);
    t.diagnostic(`10% regression, 5 rounds, cv 0.05: caught ${(rate * 100).toFixed(1)}%`);
    assert.ok(rate >= 0.8, `caught ${rate}`);
  });

  test('a 10% regression with 8% noise is caught in at least 60% of 7-round runs and 85% of 12-round runs', (t) => {
    t.diagnostic(
      `10% regression, 5 rounds, cv 0.08: caught ${(alarmRate(5, 0.08, 1 / 0.9) * 100).toFixed(1)}% (not enough rounds for this noise)`,
    );
    const seven = alarmRate(7, 0.08, 1 / 0.9);
    const twelve = alarmRate(12, 0.08, 1 / 0.9);
    t.diagnostic(
      `10% regression, cv 0.08: caught ${(seven * 100).toFixed(1)}% with 7 rounds, ${(twelve * 100).toFixed(1)}% with 12`,
    );
    assert.ok(seven >= 0.6, `caught ${seven} with 7 rounds`);
    assert.ok(twelve >= 0.85, `caught ${twelve} with 12 rounds`);
  });

  test('judge names the baseline and the drop when the whole interval is below it', () => {
    const verdict = judge(
      'cache / cache on',
      { ratio: 1.8, low: 1.7, high: 1.9, rounds: 5 },
      { ratio: 2.2, metric: 'cpuPerRequestMs' },
    );
    assert.equal(verdict.isRegression, true);
    assert.match(verdict.message, /below the baseline 2\.20x by 18\.2%/);
    const ok = judge(
      'cache / cache on',
      { ratio: 2.1, low: 1.9, high: 2.3, rounds: 5 },
      { ratio: 2.2, metric: 'cpuPerRequestMs' },
    );
    assert.equal(ok.isRegression, false);
  });

  test('a gated pair with fewer than 5 rounds fails the comparison instead of passing it', () => {
    const outcome = {
      name: 'cache',
      ratios: [
        {
          variant: 'cache on',
          metric: 'cpuPerRequestMs',
          direction: 'lower',
          interval: { ratio: 3, low: NaN, high: NaN, rounds: 1 },
          kneeRatio: null,
          isGated: true,
        },
      ],
    } as unknown as ExperimentOutcome;
    const baseline: BaselineFile = {
      v: 1,
      command: 'npm run experiments',
      machine: 'test',
      date: '2026-01-01T00:00:00Z',
      experiments: {
        cache: {
          'cache on': {
            metric: 'cpuPerRequestMs',
            direction: 'lower',
            ratio: 2,
            low: 1.8,
            high: 2.2,
            rounds: 5,
          },
        },
      },
    };
    const [verdict] = compareWithBaseline([outcome], baseline);
    assert.equal(verdict?.isRegression, true);
    assert.match(verdict!.message, /needs at least 5/);
  });
});
