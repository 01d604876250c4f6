import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { seededRandom } from '../internal/random.js';
import type { CallFrame, CpuProfile, CpuProfileNode } from './cpu-profile.js';
import { CpuProfileAggregate } from './cpu-profile-aggregate.js';
import { crc32, IncrementalGzip } from './incremental-gzip.js';
import { cpuProfileToPprof, decodePprof, encodePprof, readProfileTree } from './pprof.js';
import { topFunctions, treeFromCpuProfile } from './profile-tree.js';

const frame = (functionName: string, lineNumber: number, scriptId = '7'): CallFrame => ({
  functionName,
  scriptId,
  url: scriptId === '0' ? '' : 'file:///srv/app.js',
  lineNumber,
  columnNumber: 4,
});

/**
 * A profile of a wide call tree: `width` functions called up to `depth` deep at random, plus
 * `(idle)` and `(garbage collector)` samples, with jittered deltas as V8 records them.
 */
function wideProfile(seed: number, width: number, depth: number, samples: number): CpuProfile {
  const random = seededRandom(seed);
  const nodes: CpuProfileNode[] = [{ id: 1, callFrame: frame('(root)', -1, '0'), children: [] }];
  const index = new Map<string, number>();
  const child = (parent: number, f: CallFrame): number => {
    const key = `${parent}/${f.functionName}`;
    let id = index.get(key);
    if (id === undefined) {
      id = nodes.length + 1;
      index.set(key, id);
      nodes.push({ id, callFrame: f, children: [] });
      nodes[parent - 1]!.children!.push(id);
    }
    return id;
  };
  const ids: number[] = [];
  const deltas: number[] = [];
  for (let i = 0; i < samples; i++) {
    const kind = random();
    let at = 1;
    if (kind < 0.05) at = child(1, frame('(idle)', -1, '0'));
    else if (kind < 0.08) at = child(1, frame('(garbage collector)', -1, '0'));
    else {
      const levels = 1 + Math.floor(random() * depth);
      for (let d = 0; d < levels; d++) {
        const fn = Math.floor(random() * width);
        at = child(at, frame(fn === 0 ? '' : `fn_${fn}`, 10 * fn));
      }
    }
    ids.push(at);
    deltas.push(i === 0 ? 1000 : 900 + Math.floor(random() * 200));
  }
  const hits = new Map<number, number>();
  for (const id of ids) hits.set(id, (hits.get(id) ?? 0) + 1);
  for (const node of nodes) node.hitCount = hits.get(node.id) ?? 0;
  const startTime = 5_000_000;
  // The mean interval equals the first delta, which selfTimes() charges the first sample
  // while the aggregate charges it its own delta: so both give the same times.
  const endTime = startTime + 1000 * samples;
  return { nodes, startTime, endTime, samples: ids, timeDeltas: deltas };
}

/**
 * Cuts `profile` into chunks as the V8 profiler delivers them: chunk k holds the samples of
 * its window (windows overlap by `overlap` samples), only the nodes on their paths, with node
 * ids of its own, and the node list in a shuffled order.
 */
function chunksOf(profile: CpuProfile, size: number, overlap: number, seed: number): CpuProfile[] {
  const random = seededRandom(seed);
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const times: number[] = [];
  let ts = profile.startTime;
  for (const d of profile.timeDeltas!) times.push((ts += d));
  const samples = profile.samples!;
  const chunks: CpuProfile[] = [];
  for (let from = 0; from < samples.length; from += size) {
    const first = Math.max(0, from - (from === 0 ? 0 : overlap));
    const last = Math.min(samples.length, from + size);
    const used = new Set<number>([profile.nodes[0]!.id]);
    for (let i = first; i < last; i++)
      for (let at: number | undefined = samples[i]; at !== undefined; at = parent.get(at))
        used.add(at);
    // New ids, offset per chunk, so the aggregate cannot rely on V8's ids being stable.
    const renumber = new Map([...used].map((id, k) => [id, 1000 * (chunks.length + 1) + k]));
    const nodes = [...used].map((id) => {
      const n = byId.get(id)!;
      return {
        id: renumber.get(id)!,
        callFrame: n.callFrame,
        children: (n.children ?? []).filter((c) => used.has(c)).map((c) => renumber.get(c)!),
      };
    });
    const root = nodes.shift()!;
    nodes.sort(() => random() - 0.5);
    const startTime = first === 0 ? profile.startTime : times[first - 1]! + 1;
    const chunkSamples = samples.slice(first, last).map((id) => renumber.get(id)!);
    const deltas = times
      .slice(first, last)
      .map((t, k, all) => t - (k === 0 ? startTime : all[k - 1]!));
    const endTime = last === samples.length ? profile.endTime : times[last - 1]! + 1;
    chunks.push({
      nodes: [root, ...nodes],
      startTime,
      endTime,
      samples: chunkSamples,
      timeDeltas: deltas,
    });
  }
  return chunks;
}

describe('CpuProfileAggregate', () => {
  const whole = wideProfile(42, 300, 6, 6000);
  const chunks = chunksOf(whole, 700, 5, 7);
  const aggregate = new CpuProfileAggregate({ intervalUs: 1000 });
  for (const chunk of chunks) aggregate.add(chunk);

  test('merged overlapping chunks keep every sample of the whole profile once', () => {
    assert.ok(chunks.length >= 8);
    assert.equal(aggregate.chunkCount, chunks.length);
    assert.equal(aggregate.sampleCount, whole.samples!.length);
    assert.equal(aggregate.duplicateCount, 5 * (chunks.length - 1));
    const merged = aggregate.toCpuProfile();
    assert.equal(merged.startTime, whole.startTime);
    assert.equal(merged.endTime, whole.endTime);
    assert.deepEqual(merged.timeDeltas, whole.timeDeltas);
    // Sample by sample, the same stacks (as function paths) in the same order.
    const path = (p: CpuProfile): ((id: number) => string) => {
      const parent = new Map<number, number>();
      const byId = new Map(p.nodes.map((n) => [n.id, n]));
      for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
      return (id) => {
        const names: string[] = [];
        for (let at: number | undefined = id; at !== undefined; at = parent.get(at))
          names.push(byId.get(at)!.callFrame.functionName);
        return names.join(' < ');
      };
    };
    const wholePath = path(whole);
    const mergedPath = path(merged);
    assert.deepEqual(merged.samples!.map(mergedPath), whole.samples!.map(wholePath));
  });

  test('the merged call tree has the whole profile’s nodes, hit counts and per-function totals', () => {
    const merged = aggregate.toCpuProfile();
    assert.equal(merged.nodes.length, whole.nodes.length);
    assert.equal(aggregate.nodeCount, whole.nodes.length);
    const hits = (p: CpuProfile): number[] =>
      p.nodes.map((n) => n.hitCount ?? 0).sort((a, b) => a - b);
    assert.deepEqual(hits(merged), hits(whole));
    assert.deepEqual(
      topFunctions(treeFromCpuProfile(merged)),
      topFunctions(treeFromCpuProfile(whole)),
    );
    assert.deepEqual(
      topFunctions(treeFromCpuProfile(merged, { keepIdle: true })),
      topFunctions(treeFromCpuProfile(whole, { keepIdle: true })),
    );
  });

  test('its pprof equals the pprof of the whole profile: functions, sample counts and CPU time', () => {
    const ours = decodePprof(aggregate.encodePprof({ startedAtMs: 1_700_000_000_000 }));
    const reference = cpuProfileToPprof(whole, { startedAtMs: 1_700_000_000_000 });
    const names = (p: typeof reference): string[] =>
      p.function.map((f) => String(p.stringTable.strings[Number(f.name)])).sort();
    assert.deepEqual(names(ours), names(reference));
    assert.ok(names(ours).includes('fn_299') && names(ours).includes('(anonymous)'));
    assert.ok(!names(ours).includes('(idle)'), 'idle samples are left out by default');
    const totals = (p: typeof reference): number[] =>
      [0, 1].map((k) => p.sample.reduce((sum, s) => sum + Number(s.value[k]), 0));
    assert.deepEqual(totals(ours), totals(reference));
    // Compressed while folding: a stack sampled in several chunks has a sample per chunk.
    assert.ok(ours.sample.length >= reference.sample.length);
    const raw = decodePprof(aggregate.toPprof({ startedAtMs: 1_700_000_000_000 }));
    assert.equal(raw.sample.length, reference.sample.length);
    assert.deepEqual(totals(raw), totals(reference));
    assert.deepEqual(names(raw), names(reference));
    assert.equal(Number(ours.timeNanos), Number(reference.timeNanos));
    assert.equal(Number(ours.durationNanos), Number(reference.durationNanos));
    assert.equal(Number(ours.period), 1_000_000);
    const strings = ours.stringTable.strings;
    assert.equal(strings[0], '');
    assert.deepEqual(
      ours.sampleType.map((t) => `${strings[Number(t.type)]}/${strings[Number(t.unit)]}`),
      ['samples/count', 'cpu/nanoseconds'],
    );
    // Read back as trees, both encodings give the same per-function self and total time.
    assert.deepEqual(
      topFunctions(readProfileTree(aggregate.encodePprof())),
      topFunctions(readProfileTree(encodePprof(reference))),
    );
  });

  test('idle samples are kept when asked', () => {
    const withIdle = decodePprof(aggregate.toPprof({ keepIdle: true }));
    const strings = withIdle.stringTable.strings;
    assert.ok(withIdle.function.some((f) => strings[Number(f.name)] === '(idle)'));
  });

  test('a single chunk folds to the profile itself', () => {
    const one = new CpuProfileAggregate();
    one.add(whole);
    const merged = one.toCpuProfile();
    assert.deepEqual(merged.samples!.length, whole.samples!.length);
    assert.deepEqual(
      topFunctions(treeFromCpuProfile(merged)),
      topFunctions(treeFromCpuProfile(whole)),
    );
  });

  test('a late-recorded tick that only the next chunk holds is kept, even if out of order', () => {
    const nodes = (leaf: string): CpuProfile['nodes'] => [
      { id: 1, callFrame: frame('(root)', -1, '0'), children: [2] },
      { id: 2, callFrame: frame(leaf, 5) },
    ];
    const folded = new CpuProfileAggregate();
    // Chunk a: ticks at 1000, 2000, 3000. Chunk b (started at 2500) holds 3000 again and 2900,
    // a tick V8 recorded after chunk a had stopped, then 4000.
    folded.add({
      nodes: nodes('a'),
      startTime: 0,
      endTime: 3100,
      samples: [2, 2, 2],
      timeDeltas: [1000, 1000, 1000],
    });
    folded.add({
      nodes: nodes('b'),
      startTime: 2500,
      endTime: 4100,
      samples: [2, 2, 2],
      timeDeltas: [500, -100, 1100],
    });
    assert.equal(folded.sampleCount, 5);
    assert.equal(folded.duplicateCount, 1);
    const merged = folded.toCpuProfile();
    let ts = merged.startTime;
    assert.deepEqual(
      merged.timeDeltas!.map((d) => (ts += d)),
      [1000, 2000, 3000, 2900, 4000],
    );
  });

  test('an empty aggregate encodes a valid profile without samples', () => {
    const empty = new CpuProfileAggregate();
    const decoded = decodePprof(empty.encodePprof());
    assert.equal(decoded.sample.length, 0);
    const strings = decoded.stringTable.strings;
    assert.equal(strings[0], '');
    assert.deepEqual(
      decoded.sampleType.map((t) => `${strings[Number(t.type)]}/${strings[Number(t.unit)]}`),
      ['samples/count', 'cpu/nanoseconds'],
    );
    assert.equal(empty.toCpuProfile().nodes.length, 1);
  });
});

describe('IncrementalGzip', () => {
  test('pieces compressed one by one gunzip to their concatenation, CRC and size checked', () => {
    const random = seededRandom(3);
    const pieces = Array.from({ length: 12 }, (_, i) =>
      Uint8Array.from({ length: 500 * i }, () => Math.floor(random() * 16)),
    );
    const gzip = new IncrementalGzip(1);
    for (const piece of pieces.slice(0, -1)) gzip.push(piece);
    const bytes = gzip.finish(pieces.at(-1)!);
    assert.deepEqual(gunzipSync(bytes), Buffer.concat(pieces));
    // finish() leaves the state alone: another ending gives another valid member.
    assert.deepEqual(
      gunzipSync(gzip.finish(Buffer.from('end'))),
      Buffer.concat([...pieces.slice(0, -1), Buffer.from('end')]),
    );
  });

  test('crc32 matches the known check value', () => {
    assert.equal(crc32(0, Buffer.from('123456789')), 0xcbf43926);
    assert.equal(crc32(crc32(0, Buffer.from('1234')), Buffer.from('56789')), 0xcbf43926);
  });
});
