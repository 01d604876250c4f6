import { gzipSync } from 'node:zlib';
import type { CallFrame, CpuProfile } from './cpu-profile.js';
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
 * its samples and time deltas, and encodes the pprof string, function and location tables of
 * the functions it has not seen before, so that the final {@link toPprof} only writes the
 * per-stack sample counts.
 *
 * Overlap: a chunk's samples at or before the previous chunk's last sample are dropped; V8
 * records every tick into all the profiles that are running, so those are the same ticks.
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
  #cut = -Infinity;
  #chunks = 0;
  #dropped = 0;
  #stoppedAt = Number.NaN;

  constructor(options: CpuProfileAggregateOptions = {}) {
    this.#intervalUs = options.intervalUs ?? 1000;
    this.#resolver = options.resolver;
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
    const cut = this.#cut;
    let ts = chunk.startTime;
    let maxTs = cut;
    for (let i = 0; i < samples.length; i++) {
      ts += deltas[i] ?? 0;
      if (ts <= cut) {
        this.#dropped++;
        continue;
      }
      if (ts > maxTs) maxTs = ts;
      const node = toAgg[samples[i]!] ?? 0;
      if (node === 0) continue;
      const delta = ts - this.#prevTs;
      this.#prevTs = ts;
      // The first sample's delta spans from start() to it: charged the mean at the end instead,
      // as selfTimes() does.
      if (this.#samples.length > 0 && delta > 0) this.#timeUs[node]! += delta;
      this.#hits[node]!++;
      this.#samples.push(node);
      this.#deltas.push(delta);
    }
    this.#cut = maxTs;
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

  /** The mean time per sample, charged to the first sample (its delta spans from start()). */
  #firstSampleUs(): number {
    const n = this.#samples.length;
    return n > 0 ? (this.#endTime - this.#startTime) / n : 0;
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
   * `cpu/nanoseconds`), the same profile {@link cpuProfileToPprof} makes of
   * {@link toCpuProfile}'s result.
   */
  toPprof(options: AggregatePprofOptions = {}): Uint8Array {
    const tables = this.#tables;
    const samplesId = tables.string('samples');
    const countId = tables.string('count');
    const cpuId = tables.string('cpu');
    const nsId = tables.string('nanoseconds');
    const count = this.#parent.length;
    const firstNode = this.#samples[0] ?? 0;
    const firstUs = this.#firstSampleUs();
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
      const us = this.#timeUs[id]! + (id === firstNode ? firstUs : 0);
      const ns = Math.round(us * 1000);
      const stack = this.#stackOf(id);
      const valuesSize = varintSize(hits) + varintSize(ns);
      // Sample { location_id = 1 (packed), value = 2 (packed) }
      const size = 1 + varintSize(stack.length) + stack.length + 1 + 1 + valuesSize;
      out.key(PROFILE_FIELD.sample, 2).varint(size);
      out.key(1, 2).varint(stack.length).raw(stack);
      out.key(2, 2).varint(valuesSize).varint(hits).varint(ns);
    }
    out.raw(tables.locations.bytes());
    out.raw(tables.functions.bytes());
    out.raw(tables.strings.bytes());
    const durationNanos = Math.max(0, Math.round((this.#endTime - this.#startTime) * 1000));
    const startedAtMs = options.startedAtMs ?? Date.now() - durationNanos / 1e6;
    out.key(PROFILE_FIELD.timeNanos, 0).varint64(BigInt(Math.round(startedAtMs)) * 1_000_000n);
    out.uint(PROFILE_FIELD.durationNanos, durationNanos);
    out.field(PROFILE_FIELD.periodType, valueType(cpuId, nsId));
    out.uint(PROFILE_FIELD.period, this.#intervalUs * 1000);
    return out.bytes();
  }

  /** {@link toPprof} compressed with gzip (level 1: the fastest), as `go tool pprof` reads it. */
  encodePprof(options: AggregatePprofOptions = {}): Buffer {
    return gzipSync(this.toPprof(options), { level: 1 });
  }
}
