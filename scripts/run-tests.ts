/**
 * The only test entry point. Node 20's test runner neither finds TypeScript tests by itself
 * nor expands quoted globs, so this collects `*.test.ts` under src/ and test/ (or under the
 * paths given as arguments) and runs them in one `node --test` so its summary is the last
 * output.
 *
 *   node --import tsx scripts/run-tests.ts [path ...]
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const args = process.argv.slice(2);
const roots = args.length > 0 ? args : ['src', 'test'];

function collect(path: string): string[] {
  const abs = resolve(root, path);
  if (!existsSync(abs)) {
    console.error(`run-tests: no such path: ${path}`);
    process.exit(2);
  }
  if (statSync(abs).isFile()) return [abs];
  return readdirSync(abs, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.test.ts') && !f.split(sep).includes('node_modules'))
    .map((f) => join(abs, f));
}

const files = [...new Set(roots.flatMap(collect))].sort();
if (files.length === 0) {
  console.error('run-tests: no test files found');
  process.exit(1);
}

// Two files at a time: the machines have 2 cores, and several suites drive real servers.
const concurrency = process.env.HOTPATH_TEST_CONCURRENCY ?? '2';
const result = spawnSync(
  process.execPath,
  [
    '--conditions=source',
    '--import',
    'tsx',
    '--test',
    `--test-concurrency=${concurrency}`,
    // A test that hangs fails after 5 minutes instead of holding the run until CI's limit.
    '--test-timeout=300000',
    ...files.map((f) => relative(root, f)),
  ],
  { cwd: root, stdio: 'inherit', env: process.env },
);
process.exit(result.status ?? 1);
