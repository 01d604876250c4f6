import { gunzipSync, gzipSync } from 'node:zlib';
import {
  Function as PprofFunction,
  Location,
  Profile,
  Sample,
  StringTable,
  ValueType,
} from 'pprof-format';
import type { CpuProfile, CpuProfileNode } from './cpu-profile.js';
import { selfTimes } from './cpu-profile.js';
import { ProfileDecodeError } from './errors.js';
import { type CallFrameLike, displayPathCache, frameKey, frameName } from './frame-label.js';
import type { HeapProfile, HeapProfileNode } from './heap-profile.js';
import type { ProfileTree } from './profile-tree.js';
import { treeFromCpuProfile, treeFromStacks } from './profile-tree.js';

/** Options of {@link cpuProfileToPprof}. */
export interface CpuPprofOptions {
  /** The sampling interval the profile was taken with, in microseconds. @defaultValue 1000 */
  intervalUs?: number;
  /** Wall-clock time the profile started, in ms since the epoch. @defaultValue now - duration */
  startedAtMs?: number;
  /** Keep `(idle)` samples. @defaultValue false */
  keepIdle?: boolean;
}

/** Options of {@link heapProfileToPprof}. */
export interface HeapPprofOptions {
  /** The sampling interval, in bytes. @defaultValue 32768 */
  samplingIntervalBytes?: number;
  /** The profile included freed objects (`alloc_*` sample types instead of `inuse_*`). */
  includeCollected?: boolean;
}

/** Interns functions and locations (one location per function) for a pprof Profile. */
class Interner {
  readonly strings = new StringTable();
  readonly functions: PprofFunction[] = [];
  readonly locations: Location[] = [];
  #ids = new Map<string, number>();
  readonly #pathOf = displayPathCache();

  location(frame: CallFrameLike): number {
    const name = frameName(frame);
    const file = this.#pathOf(frame.url);
    const line = frame.lineNumber + 1;
    const key = frameKey(name, file, line);
    let id = this.#ids.get(key);
    if (id === undefined) {
      id = this.functions.length + 1;
      this.#ids.set(key, id);
      const nameId = this.strings.dedup(name);
      this.functions.push(
        new PprofFunction({
          id,
          name: nameId,
          systemName: nameId,
          filename: this.strings.dedup(file),
          startLine: line,
        }),
      );
      this.locations.push(new Location({ id, line: [{ functionId: id, line }] }));
    }
    return id;
  }
}

/**
 * Converts a V8 CPU profile to a pprof Profile (sample types `samples/count` and
 * `cpu/nanoseconds`), the format `go tool pprof`, speedscope and most profiling backends read.
 */
export function cpuProfileToPprof(profile: CpuProfile, options: CpuPprofOptions = {}): Profile {
  const interner = new Interner();
  const parents = new Map<number, number>();
  const byId = new Map<number, CpuProfileNode>();
  for (const node of profile.nodes) {
    byId.set(node.id, node);
    for (const child of node.children ?? []) parents.set(child, node.id);
  }
  const counts = new Map<number, number>();
  for (const id of profile.samples ?? []) counts.set(id, (counts.get(id) ?? 0) + 1);
  const self = selfTimes(profile);
  const rootId = profile.nodes[0]?.id;
  const samples: Sample[] = [];
  // Location ids per node, computed once: stacks share their upper frames.
  const locationOf = new Map<number, number>();
  for (const [id, count] of counts) {
    const leafNode = byId.get(id);
    if (leafNode === undefined) continue;
    if (leafNode.callFrame.functionName === '(idle)' && options.keepIdle !== true) continue;
    const stack: number[] = [];
    for (let at: number | undefined = id; at !== undefined && at !== rootId; at = parents.get(at)) {
      let location = locationOf.get(at);
      if (location === undefined) {
        location = interner.location(byId.get(at)!.callFrame);
        locationOf.set(at, location);
      }
      stack.push(location);
    }
    if (stack.length === 0) continue;
    const ns = Math.round((self.get(id) ?? 0) * 1000);
    samples.push(new Sample({ locationId: stack, value: [count, ns] }));
  }
  const st = interner.strings;
  const durationNanos = Math.round((profile.endTime - profile.startTime) * 1000);
  const startedAtMs = options.startedAtMs ?? Date.now() - durationNanos / 1e6;
  const cpu = new ValueType({ type: st.dedup('cpu'), unit: st.dedup('nanoseconds') });
  return new Profile({
    sampleType: [new ValueType({ type: st.dedup('samples'), unit: st.dedup('count') }), cpu],
    sample: samples,
    location: interner.locations,
    function: interner.functions,
    stringTable: st,
    timeNanos: BigInt(Math.round(startedAtMs)) * 1_000_000n,
    durationNanos,
    periodType: new ValueType({ type: st.dedup('cpu'), unit: st.dedup('nanoseconds') }),
    period: (options.intervalUs ?? 1000) * 1000,
  });
}

/**
 * Converts a V8 sampling heap profile to a pprof Profile with sample types
 * `inuse_objects/count` and `inuse_space/bytes` (`alloc_*` when freed objects were included).
 */
export function heapProfileToPprof(profile: HeapProfile, options: HeapPprofOptions = {}): Profile {
  const interner = new Interner();
  const counts = new Map<number, number>();
  for (const s of profile.samples) counts.set(s.nodeId, (counts.get(s.nodeId) ?? 0) + 1);
  const samples: Sample[] = [];
  const walk = (node: HeapProfileNode, stack: number[]): void => {
    const here = [interner.location(node.callFrame), ...stack];
    if (node.selfSize > 0) {
      samples.push(
        new Sample({ locationId: here, value: [counts.get(node.id) ?? 1, node.selfSize] }),
      );
    }
    for (const child of node.children) walk(child, here);
  };
  for (const child of profile.head.children) walk(child, []);
  const st = interner.strings;
  const prefix = options.includeCollected === true ? 'alloc' : 'inuse';
  return new Profile({
    sampleType: [
      new ValueType({ type: st.dedup(`${prefix}_objects`), unit: st.dedup('count') }),
      new ValueType({ type: st.dedup(`${prefix}_space`), unit: st.dedup('bytes') }),
    ],
    sample: samples,
    location: interner.locations,
    function: interner.functions,
    stringTable: st,
    timeNanos: BigInt(Date.now()) * 1_000_000n,
    periodType: new ValueType({ type: st.dedup('space'), unit: st.dedup('bytes') }),
    period: options.samplingIntervalBytes ?? 32768,
  });
}

/** Serializes a pprof Profile to gzip-compressed protobuf, as `go tool pprof` expects. */
export function encodePprof(profile: Profile): Buffer {
  return gzipSync(profile.encode(), { level: 1 });
}

/** Decodes pprof protobuf bytes, gzip-compressed or not. */
export function decodePprof(bytes: Uint8Array): Profile {
  const raw = bytes[0] === 0x1f && bytes[1] === 0x8b ? gunzipSync(bytes) : bytes;
  return Profile.decode(raw);
}

/**
 * Reads a profile file, pprof (gzip or not) or `.cpuprofile` JSON, into a {@link ProfileTree}.
 * For pprof, the last sample type is used (CPU nanoseconds become microseconds).
 * @throws {@link ProfileDecodeError} `HP_ERR_PROFILE_DECODE`
 */
export function readProfileTree(bytes: Uint8Array): ProfileTree {
  const first = bytes.find((b) => b !== 0x20 && b !== 0x0a && b !== 0x0d && b !== 0x09);
  if (first === 0x7b) {
    let parsed: CpuProfile;
    try {
      parsed = JSON.parse(Buffer.from(bytes).toString('utf8')) as CpuProfile;
    } catch (error) {
      throw new ProfileDecodeError('the file is not valid JSON', { cause: error });
    }
    if (!Array.isArray(parsed.nodes)) {
      throw new ProfileDecodeError('the JSON file is not a .cpuprofile (no "nodes")');
    }
    return treeFromCpuProfile(parsed);
  }
  let profile: Profile;
  try {
    profile = decodePprof(bytes);
  } catch (error) {
    throw new ProfileDecodeError('the file is neither pprof protobuf nor .cpuprofile JSON', {
      cause: error,
    });
  }
  const strings = profile.stringTable.strings;
  const index = profile.sampleType.length - 1;
  const type = profile.sampleType[index];
  if (type === undefined) throw new ProfileDecodeError('the pprof profile has no sample types');
  const unitName = strings[Number(type.unit)] ?? '';
  const scale = unitName === 'nanoseconds' ? 1 / 1000 : 1;
  const functions = new Map<number, { name: string; file: string; line: number }>();
  for (const f of profile.function) {
    functions.set(Number(f.id), {
      name: strings[Number(f.name)] ?? '',
      file: strings[Number(f.filename)] ?? '',
      line: Number(f.startLine),
    });
  }
  const locations = new Map<number, { name: string; file: string; line: number }[]>();
  for (const loc of profile.location) {
    // pprof lists inlined frames innermost first; stacks below are built root-first.
    const frames = loc.line.map((l) => functions.get(Number(l.functionId)) ?? unknownFrame);
    locations.set(Number(loc.id), frames.reverse());
  }
  const stacks = profile.sample.map((s) => ({
    frames: [...s.locationId]
      .reverse()
      .flatMap((id) => locations.get(Number(id)) ?? [unknownFrame]),
    value: Number(s.value[index] ?? 0) * scale,
  }));
  return treeFromStacks(unitName === 'bytes' ? 'bytes' : 'microseconds', stacks);
}

const unknownFrame = { name: '(unknown)', file: '', line: 0 };
