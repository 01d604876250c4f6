import type { Core } from './core.js';
import { newHeader, readHeader } from './envelope.js';
import type { Loader } from './loader.js';
import type { Factory, ResolvedOptions } from './options.js';
import type { L2Read } from './l2-reads.js';
import type { RedisTier } from './redis-tier.js';

/**
 * The L1-miss path of `getOrSet` when no load of the key runs: one batched L2 read and, only
 * if it is not a fresh hit, the single-flight load (given that read, so L2 is not asked
 * twice). An L2 hit costs one promise and one small object per request: the record's header
 * is parsed in place, the payload deserialized once, and the value promoted to L1 and
 * returned from the batch's reply, with no extra promise hop (bench/cache/l2-hit.bench.ts).
 */
export class ReadThrough {
  /** Bumped by every local write: a read that saw a change since it began is not promoted. */
  mutations = 0;
  readonly #core: Core;
  readonly #loader: Loader;
  readonly #l2: RedisTier;
  /** Filled in by each record read and copied out at once (reads settle one at a time). */
  readonly #header = newHeader();

  constructor(core: Core, loader: Loader, l2: RedisTier) {
    this.#core = core;
    this.#loader = loader;
    this.#l2 = l2;
  }

  /** The value of `key` from L2, or from the load that a non-fresh answer starts. */
  read(key: string, factory: Factory<unknown>, o: ResolvedOptions): Promise<unknown> {
    const l2 = this.#l2;
    if (!l2.usable) return this.load(key, factory, o, undefined);
    // Each read has its own slot in the batch (no per-key map on this path); reads of one
    // key that miss still meet in the loader's single flight.
    const read = new HitRead(this, key, factory, o);
    l2.enqueue(read);
    return read.promise;
  }

  /** The single-flight load, given what L2 answered (undefined: not read). */
  load(
    key: string,
    factory: Factory<unknown>,
    o: ResolvedOptions,
    text: string | null | undefined,
  ): Promise<unknown> {
    const loader = this.#loader;
    return loader.wait(
      loader.load(key, factory, o, undefined, true, text),
      o,
      undefined,
      undefined,
    );
  }

  /**
   * Answers `read` from `text` when it is a fresh record (not due for refresh-ahead); false
   * otherwise, and the caller loads.
   */
  hit(read: HitRead, text: string): boolean {
    const core = this.#core;
    const h = this.#header;
    const start = readHeader(text, h);
    if (start < 0 || h.deleted) return false;
    core.observeVersion(h.version);
    const o = read.options;
    const now = core.clock.now();
    if (
      now >= h.freshUntil ||
      (o.refreshAhead > 0 && now >= h.freshUntil - o.refreshAhead * o.ttlMs)
    )
      return false;
    let value: unknown;
    if (!h.negative) {
      try {
        value = core.serializer.deserialize(text.slice(start));
      } catch {
        return false; // the load reads the record again and counts the error
      }
    }
    core.counters.l2Hits++;
    if (read.mutations === this.mutations) core.promote(read.key, h, value, o, o.l1TtlMs, true);
    read.resolve(value);
    return true;
  }
}

/** One read-through request: the caller's promise and what settling it needs. */
class HitRead implements L2Read {
  readonly key: string;
  readonly options: ResolvedOptions;
  readonly mutations: number;
  readonly promise: Promise<unknown>;
  readonly #owner: ReadThrough;
  readonly #factory: Factory<unknown>;
  resolve!: (value: unknown) => void;

  constructor(owner: ReadThrough, key: string, factory: Factory<unknown>, o: ResolvedOptions) {
    this.#owner = owner;
    this.key = key;
    this.#factory = factory;
    this.options = o;
    this.mutations = owner.mutations;
    this.promise = new Promise((resolve) => (this.resolve = resolve));
  }

  settle(text: string | null | undefined): void {
    const owner = this.#owner;
    try {
      if (typeof text === 'string' && owner.hit(this, text)) return;
      this.resolve(owner.load(this.key, this.#factory, this.options, text));
    } catch (error) {
      this.resolve(Promise.reject(error as Error));
    }
  }
}
