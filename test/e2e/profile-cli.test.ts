import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { decodePprof } from 'hotpath/profile';
import { keepBusy, plantedHotLoop } from '../fixtures/profile/workload.js';
import type { ProfiledServer } from '../fixtures/profile/server.js';
import { startProfiledServer } from '../fixtures/profile/server.js';

const root = resolve(import.meta.dirname, '../..');

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cli(args: string[]): Promise<CliResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(
      process.execPath,
      ['--conditions=source', '--import', 'tsx', 'cli/main.ts', 'profile', ...args],
      { cwd: root, env: { ...process.env, HOTPATH_PROFILE_TOKEN: '' } },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolvePromise({ code, stdout, stderr }));
  });
}

describe('hotpath profile', () => {
  let server: ProfiledServer;
  const dir = mkdtempSync(join(tmpdir(), 'hotpath-profile-cli-'));
  before(async () => {
    server = await startProfiledServer();
  });
  after(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('bad arguments print one line and exit 2', async () => {
    for (const args of [
      [],
      ['http://127.0.0.1:1', '--seconds', 'abc'],
      ['http://127.0.0.1:1', '--bogus'],
      ['ftp://x'],
    ]) {
      const result = await cli(args);
      assert.equal(result.code, 2, args.join(' '));
      assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
      assert.match(result.stderr, /^hotpath profile: /);
    }
  });

  test('writes a pprof file and a flame graph of a running service, and prints the top functions', async () => {
    const out = join(dir, 'cpu.pb.gz');
    const html = join(dir, 'flame.html');
    const result = await keepBusy(
      cli([server.base, '--seconds', '1', '--out', out, '--flamegraph', html]),
      plantedHotLoop,
    );
    assert.equal(result.code, 0, result.stderr);
    const profile = decodePprof(readFileSync(out));
    assert.ok(profile.sample.length > 0);
    assert.ok(profile.stringTable.strings.includes('plantedHotLoop'));
    assert.match(readFileSync(html, 'utf8'), /plantedHotLoop/);
    const firstRow = result.stdout.split('\n')[1] ?? '';
    assert.match(firstRow, /plantedHotLoop/);
  });

  test('a heap profile of an idle service says there were no samples instead of printing an empty table', async () => {
    // Idle: this process only waits for the CLI meanwhile, and one sample per GB allocated
    // leaves the few KB it allocates on the way unsampled.
    const idle = await startProfiledServer({
      enabled: true,
      profiler: { heapSamplingIntervalBytes: 2 ** 30 },
    });
    try {
      const result = await cli([idle.base, '--heap', '--seconds', '0.5']);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /^no samples: /);
      assert.doesNotMatch(result.stdout, /self%/);
    } finally {
      await idle.close();
    }
  });

  test('diff prints a top-functions table with deltas', async () => {
    const before = join(dir, 'before.cpuprofile');
    const afterFile = join(dir, 'after.pb.gz');
    const first = await keepBusy(cli([server.base, '-s', '0.5', '-o', before]), () => undefined);
    assert.equal(first.code, 0, first.stderr);
    const second = await keepBusy(cli([server.base, '-s', '0.5', '-o', afterFile]), plantedHotLoop);
    assert.equal(second.code, 0, second.stderr);
    const diff = await cli(['diff', before, afterFile, '--flamegraph', join(dir, 'diff.html')]);
    assert.equal(diff.code, 0, diff.stderr);
    assert.match(diff.stdout, /self delta/);
    assert.match(diff.stdout.split('\n').slice(2, 4).join('\n'), /\+.*plantedHotLoop/);
    assert.match(readFileSync(join(dir, 'diff.html'), 'utf8'), /Differential/);
  });

  test('a refused request prints the server error and exits 1', async () => {
    const guarded = await startProfiledServer({ enabled: true, token: 'a-long-enough-test-token' });
    try {
      const result = await cli([guarded.base, '--seconds', '0.1']);
      assert.equal(result.code, 1);
      assert.match(result.stderr, /401 HP_ERR_PROFILE_UNAUTHORIZED/);
    } finally {
      await guarded.close();
    }
  });
});
