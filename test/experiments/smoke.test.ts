import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, describe, test } from 'node:test';
import { postgresForTests, redisForTests } from '../helpers/services.js';

const root = resolve(import.meta.dirname, '..', '..');
const pg = await postgresForTests();
const redis = await redisForTests();
const skip = pg.skip || redis.skip;

interface Results {
  failures: string[];
  experiments: {
    name: string;
    variants: {
      name: string;
      rounds: {
        requests: number;
        goodput: number;
        admittedP99Ms: number;
        limitedShare: number;
        shedShare: number;
      }[];
    }[];
    ratios: { variant: string; interval: { ratio: number } }[];
  }[];
}

describe('npm run experiments -- --smoke', { skip }, () => {
  const out = mkdtempSync(join(tmpdir(), 'hotpath-experiments-smoke-'));
  after(() => rmSync(out, { recursive: true, force: true }));

  test('runs both variants of n-plus-one on PostgreSQL and Redis, with requests and their ratio', async () => {
    const child = spawn(
      process.execPath,
      [
        '--conditions=source',
        '--import',
        'tsx',
        join(root, 'experiments', 'main.ts'),
        '--smoke',
        '--database-url',
        pg.url,
        '--redis-url',
        redis.url,
        '--out',
        out,
      ],
      { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    // A hung run fails the test instead of holding the suite.
    const timer = setTimeout(() => child.kill('SIGKILL'), 90_000);
    const code = await new Promise<number | null>((done) => child.once('exit', done));
    clearTimeout(timer);
    assert.equal(code, 0, output);

    const results = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as Results;
    assert.deepEqual(results.failures, []);
    assert.equal(results.experiments.length, 1);
    const [experiment] = results.experiments;
    assert.equal(experiment!.name, 'n-plus-one');
    assert.deepEqual(
      experiment!.variants.map((v) => v.name),
      ['naive (N+1)', 'batched'],
    );
    for (const variant of experiment!.variants) {
      assert.equal(variant.rounds.length, 1);
      const round = variant.rounds[0]!;
      assert.ok(round.requests > 0, `${variant.name} completed no request`);
      // Every answer admitted: the p99 of 2xx is measured, nothing is refused.
      assert.ok(round.goodput > 0 && round.admittedP99Ms > 0, JSON.stringify(round));
      assert.deepEqual([round.limitedShare, round.shedShare], [0, 0]);
    }
    const ratio = experiment!.ratios[0]!;
    assert.equal(ratio.variant, 'batched');
    assert.ok(Number.isFinite(ratio.interval.ratio) && ratio.interval.ratio > 0);
    assert.match(readFileSync(join(out, 'report.html'), 'utf8'), /<svg/);
  });
});
