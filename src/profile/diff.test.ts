import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { CpuProfile } from './cpu-profile.js';
import { diffProfiles, formatDiffTable } from './diff.js';
import { ProfileDecodeError } from './errors.js';
import { renderFlameGraph } from './flamegraph.js';
import { cpuProfileToPprof, encodePprof, readProfileTree } from './pprof.js';
import { topFunctions, treeFromCpuProfile } from './profile-tree.js';

const frame = (functionName: string, lineNumber: number) => ({
  functionName,
  scriptId: '1',
  url: 'file:///srv/app.js',
  lineNumber,
  columnNumber: 0,
});

/** A profile of (root) -> handler -> {parse, render} with the given sample counts, 1 ms each. */
function profile(parse: number, render: number): CpuProfile {
  const samples = [...Array<number>(parse).fill(3), ...Array<number>(render).fill(4)];
  return {
    nodes: [
      { id: 1, callFrame: frame('(root)', -1), children: [2] },
      { id: 2, callFrame: frame('handler', 9), children: [3, 4] },
      { id: 3, callFrame: frame('parse', 19) },
      { id: 4, callFrame: frame('render', 29) },
    ],
    startTime: 0,
    endTime: samples.length * 1000,
    samples,
    timeDeltas: samples.map(() => 1000),
  };
}

describe('diffProfiles', () => {
  test('reports per-function self and total deltas, largest change first', () => {
    const diff = diffProfiles(
      treeFromCpuProfile(profile(50, 50)),
      treeFromCpuProfile(profile(90, 10)),
    );
    assert.equal(diff.functions[0]?.name, 'parse');
    assert.equal(diff.functions[0].selfDelta, 40_000);
    assert.equal(diff.functions[1]?.name, 'render');
    assert.equal(diff.functions[1].selfDelta, -40_000);
    const handler = diff.functions.find((f) => f.name === 'handler');
    assert.equal(handler?.totalDelta, 0);
    const table = formatDiffTable(diff);
    assert.match(table, /\+40\.0 ms .*parse {2}\/srv\/app\.js:20/);
    assert.match(table, /-40\.0 ms .*render/);
  });

  test('scales the baseline so profiles of different lengths compare by share', () => {
    const diff = diffProfiles(
      treeFromCpuProfile(profile(50, 50)),
      treeFromCpuProfile(profile(100, 100)),
    );
    assert.equal(diff.scale, 2);
    for (const f of diff.functions) assert.equal(f.selfDelta, 0);
  });

  test('reads pprof and .cpuprofile files alike', () => {
    const cpu = profile(30, 10);
    const fromJson = readProfileTree(Buffer.from(JSON.stringify(cpu)));
    const fromPprof = readProfileTree(encodePprof(cpuProfileToPprof(cpu)));
    assert.deepEqual(
      topFunctions(fromPprof).map((f) => [f.name, f.self]),
      topFunctions(fromJson).map((f) => [f.name, f.self]),
    );
    assert.throws(() => readProfileTree(Buffer.from('not a profile')), ProfileDecodeError);
  });
});

describe('renderFlameGraph', () => {
  test('embeds the tree safely, with no external resources', () => {
    const cpu = profile(5, 5);
    cpu.nodes[3]!.callFrame.functionName = '</script><img src=x>';
    const html = renderFlameGraph(treeFromCpuProfile(cpu), { title: 'a <b> title' });
    assert.doesNotMatch(html, /<\/script><img/);
    assert.match(html, /a &lt;b&gt; title/);
    assert.doesNotMatch(html, /https?:\/\//);
  });
});
