import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, relative, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import ts from 'typescript';
import {
  createTestDatabase,
  postgresForTests,
  redisForTests,
  TEST_REDIS_URL,
} from '../helpers/services.js';

// Every ```ts block of README.md and docs/*.md is checked against the package's public exports
// (docs/resilience.md has its own test, test/e2e/resilience-docs.test.ts). The fence's info
// string says how (README.md, "Contributing"):
//   ```ts            a whole module: type-checked
//   ```ts runnable   a whole program: type-checked, then run (DATABASE_URL and REDIS_URL, when
//                    the block reads them, point at a fresh test database and the test Redis)
//   ```ts fragment   a piece of a program on purpose: only parsed
const root = resolve(import.meta.dirname, '..', '..');
const pages = [
  'README.md',
  ...readdirSync(join(root, 'docs'))
    .filter((f) => f.endsWith('.md') && f !== 'resilience.md')
    .sort()
    .map((f) => `docs/${f}`),
];

type Kind = 'module' | 'runnable' | 'fragment';

interface Block {
  page: string;
  line: number;
  kind: Kind;
  code: string;
  file: string;
}

const blocks: Block[] = [];
const badMarkers: string[] = [];
for (const page of pages) {
  const lines = readFileSync(join(root, page), 'utf8').split('\n');
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(ts|typescript)(?:\s+(.*))?$/.exec(lines[i]!);
    if (open === null) continue;
    const marker = (open[2] ?? '').trim();
    if (marker !== '' && marker !== 'runnable' && marker !== 'fragment')
      badMarkers.push(`${page}:${i + 1}: unknown marker "${marker}"`);
    const start = i + 1;
    let end = start;
    while (end < lines.length && !/^```\s*$/.test(lines[end]!)) end++;
    const kind: Kind = marker === 'runnable' || marker === 'fragment' ? marker : 'module';
    const file = `${page.replace(/[^a-z0-9]+/gi, '-')}-L${start}.ts`;
    blocks.push({ page, line: start, kind, code: lines.slice(start, end).join('\n'), file });
    i = end;
  }
}

// Inside the package, so `hotpath/<module>` resolves to the sources by self-reference.
const artifacts = resolve(root, 'test/artifacts');
mkdirSync(artifacts, { recursive: true });
const dir = mkdtempSync(join(artifacts, 'docs-blocks-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** tsc's errors by block file name, from one run over every checked block. */
const errors = new Map<string, string[]>();

before(() => {
  const checked = blocks.filter((b) => b.kind !== 'fragment');
  for (const block of checked) {
    // `export {}` makes each block its own module (top-level await, no shared names).
    writeFileSync(join(dir, block.file), `${block.code}\nexport {};\n`);
  }
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({
      extends: relative(dir, join(root, 'tsconfig.json')),
      compilerOptions: { noEmit: true, noUnusedLocals: false },
      include: ['*.ts'],
    }),
  );
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  const result = spawnSync(process.execPath, [tsc, '-p', dir, '--pretty', 'false'], {
    cwd: root,
    encoding: 'utf8',
  });
  let current: string[] | undefined;
  for (const line of result.stdout.split('\n')) {
    const match = /^(.*?)\((\d+),(\d+)\): error (TS\d+: .*)$/.exec(line);
    if (match !== null) {
      const name = match[1]!.split('/').pop()!;
      current = errors.get(name) ?? [];
      errors.set(name, current);
      current.push(`line ${match[2]}: ${match[4]}`);
    } else if (line.startsWith(' ') && current !== undefined) current.push(line);
  }
  if (result.status !== 0 && errors.size === 0)
    throw new Error(`tsc failed without a per-file error:\n${result.stdout}${result.stderr}`);
});

/** Parse errors of a fragment, which is not type-checked. */
function syntaxErrors(code: string): string[] {
  const out = ts.transpileModule(code, {
    reportDiagnostics: true,
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
  });
  return (out.diagnostics ?? []).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
}

function run(file: string, env: NodeJS.ProcessEnv): Promise<{ code: number | null; out: string }> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', file], {
      cwd: root,
      env,
    });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
    // A block that hangs (an open handle) fails instead of holding the suite.
    const timer = setTimeout(() => {
      out += '\n(killed after 60 s: the block did not exit)';
      child.kill('SIGKILL');
    }, 60_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolveRun({ code, out });
    });
  });
}

const needsPostgres = (code: string): boolean => code.includes('DATABASE_URL');
const needsRedis = (code: string): boolean => code.includes('REDIS_URL');
const postgres = blocks.some((b) => b.kind === 'runnable' && needsPostgres(b.code))
  ? await postgresForTests()
  : undefined;
const redis = blocks.some((b) => b.kind === 'runnable' && needsRedis(b.code))
  ? await redisForTests()
  : undefined;

describe('TypeScript blocks of README.md and docs/', () => {
  test('every fence marker is ts, ts runnable or ts fragment', () => {
    assert.deepEqual(badMarkers, []);
  });

  test('fragments stay few: most blocks are whole modules', () => {
    const fragments = blocks.filter((b) => b.kind === 'fragment').length;
    assert.ok(fragments * 2 <= blocks.length, `${fragments} of ${blocks.length} are fragments`);
  });

  for (const block of blocks) {
    const where = `${block.page}:${block.line}`;
    if (block.kind === 'fragment') {
      test(`${where} (fragment) parses`, () => {
        assert.deepEqual(syntaxErrors(block.code), []);
      });
      continue;
    }
    const pg = block.kind === 'runnable' && needsPostgres(block.code);
    const rd = block.kind === 'runnable' && needsRedis(block.code);
    const skip = (pg && postgres?.skip) || (rd && redis?.skip) || false;
    const title =
      block.kind === 'runnable' ? `${where} type-checks and runs` : `${where} type-checks`;
    test(title, { skip }, async () => {
      assert.deepEqual(errors.get(block.file) ?? [], [], `${where} does not type-check`);
      if (block.kind !== 'runnable') return;
      const env: NodeJS.ProcessEnv = { ...process.env };
      delete env.DATABASE_URL;
      delete env.REDIS_URL;
      let drop = async (): Promise<void> => {};
      if (pg) {
        const created = await createTestDatabase(postgres!.url);
        env.DATABASE_URL = created.url;
        drop = created.drop;
      }
      if (rd) env.REDIS_URL = redis?.url || TEST_REDIS_URL;
      try {
        // Twice: an example must not depend on state a previous run left behind.
        for (const attempt of [1, 2]) {
          const result = await run(join(dir, block.file), env);
          assert.equal(result.code, 0, `run ${attempt} of ${where} failed:\n${result.out}`);
        }
      } finally {
        await drop();
      }
    });
  }
});
