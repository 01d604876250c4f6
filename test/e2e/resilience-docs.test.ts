import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { after, describe, test } from 'node:test';

// The TypeScript blocks of docs/resilience.md that import only from 'hotpath/resilience' are
// whole programs: each is type-checked against the source and run, so the page stays true.
const root = resolve(import.meta.dirname, '..', '..');
const page = readFileSync(resolve(root, 'docs/resilience.md'), 'utf8');

const blocks = [...page.matchAll(/^```(?:ts|typescript)\n([\s\S]*?)^```$/gm)].map((m) => m[1]!);
const runnable = blocks.filter((code) => {
  const sources = [...code.matchAll(/\bfrom\s+'([^']+)'/g)].map((m) => m[1]);
  return sources.length > 0 && sources.every((s) => s === 'hotpath/resilience');
});

// Inside the package, so 'hotpath/resilience' resolves to the source by self-reference.
const artifacts = resolve(root, 'test/artifacts');
mkdirSync(artifacts, { recursive: true });
const dir = mkdtempSync(join(artifacts, 'resilience-docs-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const files = runnable.map((code, i) => {
  const file = join(dir, `block-${i + 1}.ts`);
  writeFileSync(file, code);
  return file;
});

describe('docs/resilience.md', () => {
  test('opens with a runnable example', () => {
    assert.ok(runnable.length > 0, 'no TypeScript block imports only from hotpath/resilience');
    assert.equal(runnable[0], blocks[0], 'the first block is not a runnable one');
  });

  test('its runnable blocks type-check', () => {
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        extends: '../../../tsconfig.json',
        compilerOptions: { noEmit: true },
        include: ['*.ts'],
      }),
    );
    const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
    const result = spawnSync(process.execPath, [tsc, '-p', dir], { cwd: root, encoding: 'utf8' });
    assert.equal(result.status, 0, result.stdout + result.stderr);
  });

  for (const [i, file] of files.entries()) {
    const code = runnable[i]!;
    // `console.log(x); // 10: a tenth of 100 calls` promises a line that starts with "10".
    const promised = [...code.matchAll(/console\.log\(.*\);\s*\/\/\s*(.*)$/gm)].map((m) => m[1]!);
    test(`block ${i + 1} runs and prints what its comments say (${code.split('\n')[0]})`, () => {
      const result = spawnSync(process.execPath, ['--conditions=source', '--import', 'tsx', file], {
        cwd: root,
        encoding: 'utf8',
      });
      assert.equal(result.status, 0, result.stdout + result.stderr);
      const printed = result.stdout.trimEnd().split('\n');
      assert.equal(printed.length, promised.length, result.stdout);
      for (const [n, line] of printed.entries()) {
        assert.ok(
          promised[n]!.startsWith(line),
          `printed "${line}", the comment says "${promised[n]}"`,
        );
      }
    });
  }
});
