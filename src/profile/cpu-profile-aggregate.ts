import type { CallFrame, CpuProfile } from './cpu-profile.js';
import { IncrementalGzip } from './incremental-gzip.js';
import { PprofTables, PROFILE_FIELD } from './pprof-tables.js';
import { ProtoWriter, varintSize } from './proto-writer.js';
import type { SourceMapResolver } from './source-maps.js';

/** Options of {@link CpuProfileAggregate}. */
export interface CpuProfileAggregateOptions {
  /** The sampling interval the chunks were taken with, in microseconds. @defaultValue 1000 */
  intervalUs?: number;
  /** Maps each new function's frame to its original source once, as it is first seen. */
  resolver?: SourceMapResolver;
}

/** Options of {@link CpuProfileAggregate.toPprof}. */
export interface AggregatePprofOptions {
  /** Wall-clock time the profile started, in ms since the epoch. @defaultValue now - duration */
  startedAtMs?: number;
  /** Keep `(idle)` samples. @defaultValue false */
  keepIdle?: boolean;
}

const ROOT = 1;
const EMPTY = new Uint8Array(0);

/** Writes a pprof Sample { location_id = 1 (packed), value = 2 (packed) }. */
function writeSample(out: ProtoWriter, stack: Uint8Array, hits: number, ns: number): void {
  const valuesSize = varintSize(hits) + varintSize(ns);
  const size = 1 + varintSize(stack.length) + stack.length + 1 + 1 + valuesSize;
  out.key(PROFILE_FIELD.sample, 2).varint(size);
  out.key(1, 2).varint(stack.length).raw(stack);
  out.key(2, 2).varint(valuesSize).varint(hits).varint(ns);
}

/** Packed varint location ids: `location` then the stack above it. */
function stackBytes(location: number, above: Uint8Array): Uint8Array {
  const size = varintSize(location);
  const stack = new Uint8Array(size + above.length);
  let v = location;
  for (let at = 0; at < size; at++, v = Math.floor(v / 0x80)) {
    stack[at] = at === size - 1 ? v : (v % 0x80) | 0x80;
  }
  stack.set(above, size);
  return stack;
}

// Child lookup key: parent node id * 2^21 + function index (both stay far below 2^32 and 2^21).
const FN_SPAN = 2 ** 21;

/**
 * One CPU profile folded from consecutive chunks (V8 profiles of back-to-back, slightly
 * overlapping windows, as {@link takeChunkedCpuProfile} takes them). Each {@link add} merges a
 * chunk's call tree into one tree (a frame under the same parent frame is one node), appends
 * its samples and time deltas, and encodes and compresses its part of the pprof profile:
 * the string, function and location table entries it added and one pprof sample per stack it
 * sampled. When the profile ends, {@link encodePprof} only has the last chunk's part and a
 * few fields left to compress (pprof readers sum samples of the same stack).
 *
 * Overlap: a chunk's sample with the same timestamp as one of the previous chunk's is dropped;
 * V8 records every tick into all the profiles that are running, with the same timestamp, so
 * those are the same ticks.
 *
 * @example
 * ```ts
 * const aggregate = new CpuProfileAggregate({ intervalUs: 1000 });
 * for (const chunk of chunks) aggregate.add(chunk);
 * await writeFile('cpu.pb.gz', aggregate.encodePprof());
 * ```
 */
export class CpuProfileAggregate {
  readonly #intervalUs: number;
  readonly #resolver: SourceMapResolver | undefined;
  readonly #tables = new PprofTables();
  readonly #gzip = new IncrementalGzip(1);
  readonly #emitted = { strings: 0, functions: 0, locations: 0 };
  // Per-node counts of the chunk being folded, and the nodes it touched.
  readonly #chunkHits: number[] = [0, 0];
  readonly #chunkUs: number[] = [0, 0];
  // Functions, by V8 identity (name, script, position).
  readonly #fnIndex = new Map<string, number>();
  readonly #frames: CallFrame[] = [];
  readonly #fnLocation: number[] = [];
  readonly #fnIdle: boolean[] = [];
  // Nodes of the merged tree; index 0 unused so a node id is its index.
  readonly #parent: number[] = [0, 0];
  readonly #fn: number[] = [-1, -1];
  readonly #hits: number[] = [0, 0];
  readonly #timeUs: number[] = [0, 0];
  /** Packed varint location ids of each node's stack, leaf first (pprof's order). */
  readonly #stack: Uint8Array[] = [EMPTY, EMPTY];
  readonly #children = new Map<number, number>();
  readonly #samples: number[] = [];
  readonly #deltas: number[] = [];
  #rootFrame: CallFrame | undefined;
  #startTime = 0;
  #endTime = 0;
  #prevTs = 0;
  #previousTimes = new Set<number>();
  #previousMax = -Infinity;
  #chunks = 0;
  #dropped = 0;
  #stoppedAt = Number.NaN;

  constructor(options: CpuProfileAggregateOptions = {}) {
    this.#intervalUs = options.intervalUs ?? 1000;
    this.#resolver = options.resolver;
    const t = this.#tables;
    const valueType = (type: string, unit: string): Uint8Array =>
      new ProtoWriter(8).uint(1, t.string(type)).uint(2, t.string(unit)).bytes();
    const head = new ProtoWriter(32)
      .field(PROFILE_FIELD.sampleType, valueType('samples', 'count'))
      .field(PROFILE_FIELD.sampleType, valueType('cpu', 'nanoseconds'));
    this.#gzip.push(head.bytes());
  }

  /** Chunks folded so far. */
  get chunkCount(): number {
    return this.#chunks;
  }

  /** Samples kept so far. */
  get sampleCount(): number {
    return this.#samples.length;
  }

  /** Samples dropped because an earlier chunk already held them (the overlaps). */
  get duplicateCount(): number {
    return this.#dropped;
  }

  /** Nodes of the merged call tree, the root included. */
  get nodeCount(): number {
    return this.#parent.length - 1;
  }

  /** Start of the first chunk and end of the last one, in V8's microsecond clock. */
  get window(): { startTime: number; endTime: number } {
    return { startTime: this.#startTime, endTime: this.#endTime };
  }

  /**
   * `performance.now()` when the last chunk was asked to stop (NaN until then): the end of the
   * profile window, from which the time to encoded bytes is measured.
   */
  get stoppedAt(): number {
    return this.#stoppedAt;
  }

  /** @internal Records the end of the profile window (see {@link stoppedAt}). */
  markStopped(at: number): void {
    this.#stoppedAt = at;
  }

  /** Folds the next chunk (chunks must be added in the order they were started). */
  add(chunk: CpuProfile): void {
    const nodes = chunk.nodes;
    const rootNode = nodes[0];
    if (rootNode === undefined) return;
    if (this.#chunks === 0) {
      this.#startTime = chunk.startTime;
      this.#prevTs = chunk.startTime;
      this.#rootFrame = rootNode.callFrame;
    }
    this.#chunks++;
    if (chunk.endTime > this.#endTime) this.#endTime = chunk.endTime;
    let maxId = 0;
    for (const node of nodes) if (node.id > maxId) maxId = node.id;
    const byId: (CpuProfile['nodes'][number] | undefined)[] = new Array(maxId + 1);
    for (const node of nodes) byId[node.id] = node;
    const toAgg = new Int32Array(maxId + 1);
    toAgg[rootNode.id] = ROOT;
    const pending = [rootNode];
    for (let node = pending.pop(); node !== undefined; node = pending.pop()) {
      const parent = toAgg[node.id]!;
      for (const childId of node.children ?? []) {
        const child = byId[childId];
        if (child === undefined) continue;
        toAgg[childId] = this.#child(parent, this.#function(child.callFrame));
        pending.push(child);
      }
    }
    const samples = chunk.samples ?? [];
    const deltas = chunk.timeDeltas ?? [];
    const previous = this.#previousTimes;
    const previousMax = this.#previousMax;
    const times = new Set<number>();
    const touched: number[] = [];
    let ts = chunk.startTime;
    for (let i = 0; i < samples.length; i++) {
      ts += deltas[i] ?? 0;
      times.add(ts);
      if (ts <= previousMax && previous.has(ts)) {
        this.#dropped++;
        continue;
      }
      const node = toAgg[samples[i]!] ?? 0;
      if (node === 0) continue;
      const delta = ts - this.#prevTs;
      this.#prevTs = ts;
      // Negative deltas occur when V8 records samples out of order; they are clamped.
      const us = delta > 0 ? delta : 0;
      this.#timeUs[node]! += us;
      this.#hits[node]!++;
      if (this.#chunkHits[node] === 0) touched.push(node);
      this.#chunkHits[node]!++;
      this.#chunkUs[node]! += us;
      this.#samples.push(node);
      this.#deltas.push(delta);
    }
    let max = -Infinity;
    for (const t of times) if (t > max) max = t;
    this.#previousTimes = times;
    this.#previousMax = max;
    this.#gzip.push(this.#chunkPart(touched));
  }

  /** The pprof bytes of a chunk: new table entries, and a sample per stack it sampled. */
  #chunkPart(touched: number[]): Uint8Array {
    const tables = this.#tables;
    const emitted = this.#emitted;
    const strings = tables.strings.bytes().subarray(emitted.strings);
    const functions = tables.functions.bytes().subarray(emitted.functions);
    const locations = tables.locations.bytes().subarray(emitted.locations);
    emitted.strings += strings.length;
    emitted.functions += functions.length;
    emitted.locations += locations.length;
    const out = new ProtoWriter(
      strings.length + functions.length + locations.length + 64 * touched.length + 64,
    );
    out.raw(strings).raw(functions).raw(locations);
    for (const node of touched) {
      const hits = this.#chunkHits[node]!;
      const us = this.#chunkUs[node]!;
      this.#chunkHits[node] = 0;
      this.#chunkUs[node] = 0;
      if (this.#fnIdle[this.#fn[node]!] === true) continue;
      writeSample(out, this.#stack[node]!, hits, Math.round(us * 1000));
    }
    return out.bytes();
  }

  #function(frame: CallFrame): number {
    const key = `${frame.functionName}\u0000${frame.scriptId}\u0000${frame.url}\u0000${frame.lineNumber}\u0000${frame.columnNumber}`;
    let index = this.#fnIndex.get(key);
    if (index === undefined) {
      index = this.#frames.length;
      this.#fnIndex.set(key, index);
      const mapped = this.#resolver?.mapFrame(frame) ?? frame;
      const { functionName, scriptId, url, lineNumber, columnNumber } = mapped;
      this.#frames.push({ functionName, scriptId, url, lineNumber, columnNumber });
      // (idle) gets its location only if an encode keeps it: a table entry nothing refers to
      // would still be listed by pprof tools.
      const idle = frame.functionName === '(idle)';
      this.#fnLocation.push(idle ? 0 : this.#tables.location(mapped));
      this.#fnIdle.push(idle);
    }
    return index;
  }

  #child(parent: number, fn: number): number {
    const key = parent * FN_SPAN + fn;
    let id = this.#children.get(key);
    if (id === undefined) {
      id = this.#parent.length;
      this.#children.set(key, id);
      this.#parent.push(parent);
      this.#fn.push(fn);
      this.#hits.push(0);
      this.#timeUs.push(0);
      this.#chunkHits.push(0);
      this.#chunkUs.push(0);
      const location = this.#fnLocation[fn]!;
      this.#stack.push(location === 0 ? EMPTY : stackBytes(location, this.#stack[parent]!));
    }
    return id;
  }

  #stackOf(id: number): Uint8Array {
    const stack = this.#stack[id]!;
    if (stack !== EMPTY || id === ROOT) return stack;
    const fn = this.#fn[id]!;
    let location = this.#fnLocation[fn]!;
    if (location === 0) {
      location = this.#tables.location(this.#frames[fn]!);
      this.#fnLocation[fn] = location;
    }
    const built = stackBytes(location, this.#stackOf(this.#parent[id]!));
    this.#stack[id] = built;
    return built;
  }

  /**
   * The folded profile as one V8 CPU profile (`.cpuprofile`), frames source-mapped when a
   * resolver was given.
   */
  toCpuProfile(): CpuProfile {
    const count = this.#parent.length;
    const rootFrame = this.#rootFrame ?? {
      functionName: '(root)',
      scriptId: '0',
      url: '',
      lineNumber: -1,
      columnNumber: -1,
    };
    const nodes: CpuProfile['nodes'] = [];
    for (let id = 1; id < count; id++) {
      const fn = this.#fn[id]!;
      nodes.push({
        id,
        callFrame: fn < 0 ? rootFrame : this.#frames[fn]!,
        hitCount: this.#hits[id]!,
        children: [],
      });
    }
    for (let id = 2; id < count; id++) nodes[this.#parent[id]! - 1]!.children!.push(id);
    return {
      nodes,
      startTime: this.#startTime,
      endTime: this.#endTime,
      samples: this.#samples.slice(),
      timeDeltas: this.#deltas.slice(),
    };
  }

  /**
   * The folded profile as uncompressed pprof protobuf (sample types `samples/count` and
   * `cpu/nanoseconds`), one sample per stack: the profile {@link cpuProfileToPprof} makes of
   * {@link toCpuProfile}'s result, except that the first sample is charged the time from the
   * start to it rather than the mean interval.
   */
  toPprof(options: AggregatePprofOptions = {}): Uint8Array {
    const tables = this.#tables;
    const samplesId = tables.string('samples');
    const countId = tables.string('count');
    const cpuId = tables.string('cpu');
    const nsId = tables.string('nanoseconds');
    const count = this.#parent.length;
    const out = new ProtoWriter(
      64 * count + tables.strings.length + tables.functions.length + tables.locations.length,
    );
    const valueType = (type: number, unit: number): Uint8Array =>
      new ProtoWriter(8).uint(1, type).uint(2, unit).bytes();
    out.field(PROFILE_FIELD.sampleType, valueType(samplesId, countId));
    out.field(PROFILE_FIELD.sampleType, valueType(cpuId, nsId));
    const keepIdle = options.keepIdle === true;
    for (let id = 2; id < count; id++) {
      const hits = this.#hits[id]!;
      if (hits === 0 || (!keepIdle && this.#fnIdle[this.#fn[id]!] === true)) continue;
      writeSample(out, this.#stackOf(id), hits, Math.round(this.#timeUs[id]! * 1000));
    }
    out.raw(tables.locations.bytes());
    out.raw(tables.functions.bytes());
    out.raw(tables.strings.bytes());
    out.raw(this.#trailer(options.startedAtMs));
    return out.bytes();
  }

  /**
   * The folded profile as gzip-compressed pprof protobuf, as `go tool pprof` reads it: the
   * parts compressed while the chunks were folded, then the trailing fields. Stacks sampled in
   * several chunks appear once per chunk (pprof readers sum them); `(idle)` is left out.
   */
  encodePprof(options: Pick<AggregatePprofOptions, 'startedAtMs'> = {}): Buffer {
    // Table entries no chunk has carried yet (all of them when no chunk was added).
    const tables = this.#tables;
    const emitted = this.#emitted;
    return this.#gzip.finish(
      new ProtoWriter(256)
        .raw(tables.strings.bytes().subarray(emitted.strings))
        .raw(tables.functions.bytes().subarray(emitted.functions))
        .raw(tables.locations.bytes().subarray(emitted.locations))
        .raw(this.#trailer(options.startedAtMs))
        .bytes(),
    );
  }

  /** Start time, duration and period, which only the end of the profile fixes. */
  #trailer(startedAtMs: number | undefined): Uint8Array {
    const tables = this.#tables;
    const durationNanos = Math.max(0, Math.round((this.#endTime - this.#startTime) * 1000));
    const started = startedAtMs ?? Date.now() - durationNanos / 1e6;
    const periodType = new ProtoWriter(8)
      .uint(1, tables.string('cpu'))
      .uint(2, tables.string('nanoseconds'));
    return new ProtoWriter(48)
      .key(PROFILE_FIELD.timeNanos, 0)
      .varint64(BigInt(Math.round(started)) * 1_000_000n)
      .uint(PROFILE_FIELD.durationNanos, durationNanos)
      .field(PROFILE_FIELD.periodType, periodType.bytes())
      .uint(PROFILE_FIELD.period, this.#intervalUs * 1000)
      .bytes();
  }
}
