/**
 * Runs benchmarks: every bench/<set>/*.bench.ts of the chosen sets, one process each, one
 * after another (never in parallel: they would measure each other). Each bench prints its
 * medians and ratios against its named rivals and writes JSON to bench/results/.
 *
 *   npm run bench -- <set> [<set> ...] [--filter TEXT]
 *   npm run bench -- all
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const benchDir = resolve(root, 'bench');

const sets = readdirSync(benchDir, { withFileTypes: true })
  .filter((d) => d.isDirectory() && d.name !== 'lib' && d.name !== 'results')
  .filter((d) => readdirSync(join(benchDir, d.name)).some((f) => f.endsWith('.bench.ts')))
  .map((d) => d.name)
  .sort();

function usage(): string {
  return [
    'usage: npm run bench -- <set> [<set> ...] [--filter TEXT]',
    '',
    `sets: ${sets.length > 0 ? sets.join(', ') : '(none yet)'}, or "all"`,
    '',
    'Each bench runs hotpath and its rivals in the same process, interleaved over several',
    'rounds, prints median ops/s and the ratio, and writes JSON to bench/results/.',
  ].join('\n');
}

const args = process.argv.slice(2);
let filter: string | undefined;
const chosen: string[] = [];
for (let i = 0; i < args.length; i++) {
  const arg = args[i]!;
  if (arg === '--filter') filter = args[++i];
  else if (arg === '--help' || arg === '-h') {
    console.log(usage());
    process.exit(0);
  } else chosen.push(arg);
}
if (chosen.length === 0) {
  console.log(usage());
  process.exit(2);
}
const wanted = chosen.includes('all') ? sets : chosen;
for (const set of wanted) {
  if (!sets.includes(set)) {
    console.error(`bench: unknown set "${set}"\n\n${usage()}`);
    process.exit(2);
  }
}

let status = 0;
for (const set of wanted) {
  const dir = join(benchDir, set);
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.bench.ts') && (filter === undefined || f.includes(filter)))
    .sort();
  for (const file of files) {
    const path = join(dir, file);
    if (!existsSync(path)) continue;
    console.log(`\n=== ${relative(root, path)}`);
    const result = spawnSync(
      process.execPath,
      ['--conditions=source', '--import', 'tsx', '--expose-gc', path],
      {
        cwd: root,
        stdio: 'inherit',
      },
    );
    if (result.status !== 0) status = 1;
  }
}
process.exit(status);
