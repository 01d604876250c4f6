/**
 * `hotpath load merge` and the CLI flags of distributed runs (--start-at, --quiet), as a user
 * runs them: results of two runs written as files, merged by the command.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { load } from './load.js';
import { mergeResults } from './merge.js';
import { PERCENTILES, type LoadResult } from './result.js';

const root = resolve(import.meta.dirname, '..', '..');

function hotpath(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(
    process.execPath,
    ['--conditions=source', '--import', 'tsx', join(root, 'cli', 'main.ts'), 'load', ...args],
    { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  return new Promise((done) => child.on('close', (code) => done({ code, stdout, stderr })));
}

describe('hotpath load merge', () => {
  const server = createServer((req, res) => {
    req.resume();
    setTimeout(() => res.end('ok'), req.url!.startsWith('/slow') ? 2 : 0);
  });
  const dir = mkdtempSync(join(tmpdir(), 'hotpath-merge-'));
  let url = '';
  const files: string[] = [];
  const runs: LoadResult[] = [];

  before(async () => {
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    const mix = {
      requests: [
        { name: 'fast', path: '/fast' },
        { name: 'slow', path: '/slow' },
      ],
    };
    for (const seed of [1, 2]) {
      const r = await load({ url, mix, requests: 300, connections: 3, seed });
      const file = join(dir, `part-${seed}.json`);
      writeFileSync(file, JSON.stringify(r));
      files.push(file);
      runs.push(JSON.parse(JSON.stringify(r)) as LoadResult);
    }
  });
  after(() => {
    server.closeAllConnections();
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('-o writes the merged result with exact percentiles overall and per name', async () => {
    const out = join(dir, 'merged.json');
    const run = await hotpath(['merge', ...files, '-o', out]);
    assert.equal(run.code, 0, run.stderr);
    const merged = JSON.parse(readFileSync(out, 'utf8')) as LoadResult;
    const expected = mergeResults(runs);
    assert.equal(merged.completed, 600);
    assert.deepEqual(merged.latency.histogram, expected.latency.histogram);
    for (const name of ['fast', 'slow']) {
      assert.equal(merged.byName![name]!.completed, expected.byName![name]!.completed);
      for (const p of PERCENTILES)
        assert.equal(
          merged.byName![name]!.latency.percentiles[String(p)],
          expected.byName![name]!.latency.percentiles[String(p)],
        );
    }
    assert.match(run.stdout, /^by name +requests/m);
  });

  test('gates on a named threshold of the merged result', async () => {
    const ok = await hotpath(['merge', ...files, '--threshold', 'p99{name=slow}<10s']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /p99\{name=slow\} < 10\.00 s: .* ok/);
    const missing = await hotpath(['merge', ...files, '--threshold', 'p99{name=nope}<10s']);
    assert.equal(missing.code, 1);
    assert.match(missing.stdout, /no requests named "nope"/);
  });

  test('refuses results with other histogram layouts: exit 2, the code on stderr, no file', async () => {
    const other = JSON.parse(readFileSync(files[1]!, 'utf8')) as LoadResult;
    other.byName!.slow!.latency.histogram.precision = 0.05;
    const bad = join(dir, 'other-layout.json');
    writeFileSync(bad, JSON.stringify(other));
    const out = join(dir, 'never.json');
    const run = await hotpath(['merge', files[0]!, bad, '-o', out]);
    assert.equal(run.code, 2);
    assert.match(
      run.stderr,
      /^hotpath load: merge: HP_ERR_LOAD_MERGE_MISMATCH: cannot merge result 1: histogram byName\["slow"\]/,
    );
    assert.equal(existsSync(out), false);
  });
});

describe('hotpath load --start-at and --quiet', () => {
  test('refuses a start time in the past or unreadable, with exit 2', async () => {
    const past = await hotpath(['http://127.0.0.1:1/', '--start-at', '2001-01-01T00:00:00Z']);
    assert.equal(past.code, 2);
    assert.match(past.stderr, /--start-at .* is in the past/);
    const garbage = await hotpath(['http://127.0.0.1:1/', '--start-at', 'soon']);
    assert.equal(garbage.code, 2);
    assert.match(garbage.stderr, /--start-at expects an ISO 8601 time/);
  });

  test('--help documents names, checks, named thresholds, --start-at, --quiet and merge -o', async () => {
    const run = await hotpath(['--help']);
    assert.equal(run.code, 0);
    for (const text of [
      '--start-at TIME',
      '-q, --quiet',
      "'p99{name=create}<250ms'",
      'checks_failed',
      '"check": {"status"',
      'merge <a.json> <b.json> ... [-o|--json FILE]',
      'HP_ERR_LOAD_MERGE_MISMATCH',
    ])
      assert.ok(run.stdout.includes(text), text);
  });
});
