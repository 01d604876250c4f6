/**
 * `npm run experiments`: every technique of hotpath, naive against optimized, on the real
 * payments service, PostgreSQL and Redis, in one command; with a regression gate.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { experiments } from './catalog.js';
import { smoke as smokeDataset } from './datasets.js';
import type { Experiment } from './experiment.js';
import {
  baselineFrom,
  compareWithBaseline,
  mergeBaseline,
  type BaselineFile,
} from './lib/baseline.js';
import { openServers, seededDatabase, type SeededDatabase } from './lib/infra.js';
import type { ExperimentOutcome } from './lib/outcome.js';
import { renderExperimentsHtml } from './lib/report-html.js';
import { experimentMarkdown } from './lib/report-markdown.js';
import { runExperiment } from './lib/run-experiment.js';

const root = resolve(import.meta.dirname, '..');

const usage = `usage: npm run experiments -- [name ...] [options]

Runs each experiment on the payments service (one process per variant, from source) with
PostgreSQL and Redis servers: the knee of each variant (open model, p99 < 100 ms; for an
overload experiment, the naive variant's capacity in the closed model), then
interleaved rounds at a common rate with p50/p99 from the intended send time, server CPU per
request, queries per request, event-loop delay p99 and RSS; medians and the ratio of each
optimized variant over its naive twin. Without names it runs them all.

options:
  --list               list the experiments and exit
  --rounds N           rounds per variant at the common rate (default 5; the gate needs 5)
  --duration S         seconds measured per round (default 3), after a 1 s warm-up
  --knee-step S        seconds per step of the knee search (default 1.5)
  --no-knee            skip the knee search; the common rate is each experiment's fixed rate
  --smoke              one experiment (default n-plus-one), its first two variants, 1 round of
                       2 s, no knee, the small data set (${smokeDataset.users} users, ${smokeDataset.payments} payments)
  --compare FILE       gate: exit 1 when a ratio falls below FILE's (experiments/baseline.json)
                       by more than this run's noise (90% bootstrap interval of the rounds)
  --write-baseline FILE  write this run's gated ratios as a baseline; onto an existing
                       baseline, a run of some experiments replaces only theirs
  --out DIR            where results.json, report.md and report.html go
                       (default bench/results/experiments)
  --database-url URL   PostgreSQL server to use (a fresh database is created and dropped)
  --redis-url URL      Redis server to use; without both, the runner starts its own with
                       scripts/services.sh on ports 54349 and 63819
  -h, --help           this text

exit codes: 0 done, 1 an experiment failed or the gate found a regression, 2 bad arguments`;

function fail(message: string): never {
  console.error(`experiments: ${message}`);
  process.exit(2);
}

function positive(name: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0)
    fail(`${name}: expected a positive number, got "${raw}"`);
  return value;
}

let parsed;
try {
  parsed = parseArgs({
    args: process.argv.slice(2),
    allowPositionals: true,
    options: {
      list: { type: 'boolean' },
      rounds: { type: 'string' },
      duration: { type: 'string' },
      'knee-step': { type: 'string' },
      'no-knee': { type: 'boolean' },
      smoke: { type: 'boolean' },
      compare: { type: 'string' },
      'write-baseline': { type: 'string' },
      out: { type: 'string' },
      'database-url': { type: 'string' },
      'redis-url': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
} catch (error) {
  fail(`${(error as Error).message}\n${usage}`);
}
const { values, positionals } = parsed;
if (values.help === true) {
  console.log(usage);
  process.exit(0);
}
if (values.list === true) {
  const width = Math.max(...experiments.map((e) => e.name.length));
  for (const e of experiments) {
    console.log(`${e.name.padEnd(width)}  ${e.technique}`);
    console.log(`${' '.repeat(width)}  variants: ${e.variants.map((v) => v.name).join(', ')}`);
  }
  process.exit(0);
}

const isSmoke = values.smoke === true;
const unknown = positionals.filter((n) => !experiments.some((e) => e.name === n));
if (unknown.length > 0)
  fail(
    `unknown experiment ${unknown.join(', ')} (see --list: ${experiments.map((e) => e.name).join(', ')})`,
  );
let chosen: Experiment[] =
  positionals.length === 0
    ? [...experiments]
    : experiments.filter((e) => positionals.includes(e.name));
if (isSmoke) {
  const first =
    positionals.length === 0 ? experiments.find((e) => e.name === 'n-plus-one')! : chosen[0]!;
  chosen = [{ ...first, dataset: smokeDataset }];
}
const rounds = isSmoke ? 1 : Math.round(positive('--rounds', values.rounds, 5));
const roundMs = (isSmoke ? 2 : positive('--duration', values.duration, 3)) * 1000;
const kneeStepMs = positive('--knee-step', values['knee-step'], 1.5) * 1000;
const isKneeSearched = !isSmoke && values['no-knee'] !== true;
const outDir = resolve(values.out ?? resolve(root, 'bench', 'results', 'experiments'));
let baseline: BaselineFile | undefined;
if (values.compare !== undefined) {
  try {
    baseline = JSON.parse(readFileSync(values.compare, 'utf8')) as BaselineFile;
  } catch (error) {
    fail(`--compare ${values.compare}: ${(error as Error).message}`);
  }
  if (baseline.v !== 1 || typeof baseline.experiments !== 'object')
    fail(`--compare ${values.compare}: not a baseline written by --write-baseline`);
}

const command = `npm run experiments -- ${process.argv.slice(2).join(' ')}`.trim();
const machine = `node ${process.version}, ${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores`;
const log = (line: string) => console.log(line);
const started = Date.now();
log(
  `experiments: ${chosen.map((e) => e.name).join(', ')}  (${machine}, load average ${loadavg()[0]!.toFixed(1)})`,
);

const servers = openServers({
  ...(values['database-url'] === undefined ? {} : { postgresUrl: values['database-url'] }),
  ...(values['redis-url'] === undefined ? {} : { redisUrl: values['redis-url'] }),
});
const databases = new Map<string, SeededDatabase>();
const outcomes: ExperimentOutcome[] = [];
const failures: string[] = [];
try {
  for (const experiment of chosen) {
    log(`\n${experiment.name}: ${experiment.technique}`);
    try {
      let db = databases.get(experiment.dataset.name);
      if (db === undefined) {
        log(
          `  seeding ${experiment.dataset.users} users, ${experiment.dataset.payments} payments (service/seed.ts)`,
        );
        db = await seededDatabase(servers.postgresUrl, experiment.dataset);
        databases.set(experiment.dataset.name, db);
      }
      // A Redis database per data set: cached summaries of one never answer for another.
      const redis = new URL(servers.redisUrl);
      redis.pathname = `/${1 + [...databases.keys()].indexOf(experiment.dataset.name)}`;
      outcomes.push(
        await runExperiment(experiment, db, {
          rounds,
          roundMs,
          warmupMs: isSmoke ? 500 : 1000,
          isKneeSearched,
          kneeStepMs,
          variantLimit: isSmoke ? 2 : experiment.variants.length,
          redisUrl: redis.toString(),
          log,
        }),
      );
      log('');
      log(experimentMarkdown(outcomes.at(-1)!));
    } catch (error) {
      failures.push(`${experiment.name}: ${(error as Error).message}`);
      log(`  FAILED: ${(error as Error).message}`);
    }
  }
} finally {
  for (const db of databases.values()) await db.drop().catch(() => {});
  servers.stop();
}

const minutes = ((Date.now() - started) / 60_000).toFixed(1);
const heading = `${command} — ${machine}; ${new Date().toISOString()}; ${minutes} min`;
mkdirSync(outDir, { recursive: true });
writeFileSync(
  resolve(outDir, 'results.json'),
  JSON.stringify(
    {
      command,
      machine,
      date: new Date().toISOString(),
      failures,
      experiments: outcomes.map((o) => ({
        ...o,
        variants: o.variants.map(({ results: _r, ...v }) => v),
      })),
    },
    null,
    2,
  ),
);
writeFileSync(
  resolve(outDir, 'report.md'),
  [
    `Command: \`${command}\` (${machine}, ${minutes} min)`,
    '',
    ...outcomes.map(experimentMarkdown),
  ].join('\n'),
);
const html = renderExperimentsHtml(outcomes, heading);
writeFileSync(resolve(outDir, 'report.html'), html.page);
for (const [file, page] of Object.entries(html.variantPages))
  writeFileSync(resolve(outDir, file), page);
log(`wrote ${resolve(outDir, 'results.json')}, report.md and report.html (${minutes} min)`);

if (values['write-baseline'] !== undefined) {
  const file = values['write-baseline'];
  let written = baselineFrom(outcomes, command, machine);
  // An existing baseline keeps the entries of the experiments this run did not measure.
  let previous: BaselineFile | undefined;
  try {
    previous = JSON.parse(readFileSync(file, 'utf8')) as BaselineFile;
  } catch {
    previous = undefined;
  }
  const isMerged = previous?.v === 1 && chosen.length < experiments.length;
  if (isMerged)
    written = mergeBaseline(
      previous!,
      written,
      outcomes.map((o) => o.name),
    );
  writeFileSync(file, `${JSON.stringify(written, null, 2)}\n`);
  log(
    `wrote the baseline ${file}${isMerged ? ` (the entries of ${outcomes.map((o) => o.name).join(', ')}; the others kept)` : ''}`,
  );
}
let isRegression = false;
if (baseline !== undefined) {
  const verdicts = compareWithBaseline(outcomes, baseline);
  log(`\ngate against ${values.compare} (${baseline.command}, ${baseline.machine}):`);
  for (const v of verdicts) log(`  ${v.isRegression ? 'REGRESSION' : 'ok'}  ${v.message}`);
  if (verdicts.length === 0)
    log('  nothing to compare: no experiment of this run is in the baseline');
  isRegression = verdicts.some((v) => v.isRegression);
}
for (const f of failures) console.error(`experiments: FAILED ${f}`);
process.exit(failures.length > 0 || isRegression ? 1 : 0);
