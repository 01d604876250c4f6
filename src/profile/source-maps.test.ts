import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import ts from 'typescript';
import { keepBusy } from '../../test/fixtures/profile/workload.js';
import { Profiler } from './profiler.js';
import { topFunctions, treeFromCpuProfile } from './profile-tree.js';
import { SourceMapResolver } from './source-maps.js';

// Compiled the way `npm run build` compiles: a .js file with a sourceMappingURL comment and a
// .js.map beside it, loaded without --enable-source-maps.
const source = `// a TypeScript module
interface Options {
  rounds: number;
}

type Result = number;

export function compiledHotLoop(options: Options): Result {
  let x = 0;
  for (let i = 0; i < options.rounds; i++) x += Math.sqrt(i) * Math.cos(i);
  return x;
}
`;

const dir = mkdtempSync(join(tmpdir(), 'hotpath-sourcemap-'));
const output = ts.transpileModule(source, {
  compilerOptions: {
    module: ts.ModuleKind.ESNext,
    target: ts.ScriptTarget.ES2022,
    sourceMap: true,
  },
  fileName: 'hot.ts',
});
writeFileSync(join(dir, 'hot.ts'), source);
writeFileSync(
  join(dir, 'hot.mjs'),
  output.outputText.replace(/\/\/# sourceMappingURL=.*$/m, '//# sourceMappingURL=hot.mjs.map'),
);
writeFileSync(join(dir, 'hot.mjs.map'), output.sourceMapText!.replace('"hot.js"', '"hot.mjs"'));

describe('SourceMapResolver', () => {
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('maps a position in compiled JavaScript to the .ts line it came from', () => {
    const js = output.outputText.split('\n');
    const line = js.findIndex((l) => l.includes('function compiledHotLoop'));
    const column = js[line]!.indexOf('compiledHotLoop');
    const resolver = new SourceMapResolver();
    const original = resolver.resolve(pathToFileURL(join(dir, 'hot.mjs')).href, line, column);
    assert.equal(original?.url, pathToFileURL(join(dir, 'hot.ts')).href);
    assert.equal(original.lineNumber, 7);
  });

  test('answers undefined for a file without a map', () => {
    const resolver = new SourceMapResolver();
    assert.equal(resolver.resolve('node:internal/timers', 10, 0), undefined);
    assert.equal(resolver.resolve(pathToFileURL(join(dir, 'hot.ts')).href, 1, 0), undefined);
  });

  test('CPU profile frames of compiled code point at the .ts source', async () => {
    const mod = (await import(pathToFileURL(join(dir, 'hot.mjs')).href)) as {
      compiledHotLoop: (o: { rounds: number }) => number;
    };
    const profiler = new Profiler();
    try {
      const profile = await keepBusy(profiler.cpuProfile({ seconds: 0.5 }), () =>
        mod.compiledHotLoop({ rounds: 20_000 }),
      );
      const hot = topFunctions(treeFromCpuProfile(profile)).find(
        (f) => f.name === 'compiledHotLoop',
      );
      assert.ok(hot !== undefined);
      assert.ok(hot.file.endsWith('hot.ts'), hot.file);
      assert.equal(hot.line, 8);
    } finally {
      await profiler.close();
    }
  });
});
