import { ClosedError } from '../errors/index.js';
import { checkString } from '../internal/validate-options.js';
import { resolveCacheOptions } from './cache-settings.js';
import { Core } from './core.js';
import { CacheFlushError } from './errors.js';
import { formatMessage } from './invalidation-bus.js';
import { L2Repair } from './l2-repair.js';
import { L2Sync } from './l2-sync.js';
import { type Flight, Loader } from './loader.js';
import { MemoryTier } from './memory-tier.js';
import type {
  CacheOptions,
  Factory,
  GetOrSetOptions,
  ResolvedOptions,
  SetOptions,
} from './options.js';
import { resolveCallOptions } from './options.js';
import { ReadThrough } from './read-through.js';
import { RedisTier } from './redis-tier.js';
import { type CacheStats, snapshotStats } from './stats.js';
import { WriteBehindQueue } from './write-behind.js';

const EMPTY: GetOrSetOptions = Object.freeze({});

/**
 * A two-level cache: L1 in process (lru-cache, bounded by count and bytes) in front of an
 * optional L2 on Redis shared by every instance. Create it with {@link createCache}.
 */
export class Cache {
  readonly #core: Core;
  readonly #l1: MemoryTier;
  readonly #l2: RedisTier | undefined;
  readonly #loader: Loader;
  readonly #clock: { now(): number };
  readonly #counters: Core['counters'];
  readonly #queue: WriteBehindQueue | undefined;
  readonly #closeController = new AbortController();
  readonly #defaults: { ttlMs: number; l1TtlMs: number };
  readonly #resolved = new WeakMap<object, ResolvedOptions>();
  readonly #closeTimeoutMs: number;
  readonly #l2RetryMs: number;
  readonly #repair = new L2Repair();
  readonly #reads: ReadThrough | undefined;
  #closing: Promise<void> | undefined;
  #sync: L2Sync | undefined;

  constructor(options: CacheOptions) {
    const settings = resolveCacheOptions(options);
    const { namespace, ttlMs, l1TtlMs, max, maxBytes, clock, writeMode } = settings;
    this.#closeTimeoutMs = settings.closeTimeoutMs;
    this.#l2RetryMs = settings.l2RetryMs;
    this.#defaults = { ttlMs, l1TtlMs };
    this.#l1 = new MemoryTier({ max, maxBytes });
    const counters = { onError: (): void => undefined };
    this.#l2 =
      settings.l2 === undefined
        ? undefined
        : new RedisTier(settings.l2, {
            namespace,
            timeoutMs: settings.l2TimeoutMs,
            retryMs: this.#l2RetryMs,
            readBatch: settings.l2ReadBatch,
            clock,
            onError: () => counters.onError(),
          });
    this.#core = new Core({
      l1: this.#l1,
      l2: this.#l2,
      serializer: settings.serializer,
      clock,
      random: settings.random,
      jitter: settings.jitter,
      maxBytes: maxBytes !== undefined,
      sizeOf: settings.sizeOf,
      leaseMs: settings.leaseMs,
      tombstoneMs: settings.tombstoneMs,
    });
    counters.onError = () => void this.#core.counters.l2Errors++;
    this.#clock = clock;
    this.#counters = this.#core.counters;
    this.#loader = new Loader(this.#core, this.#closeController.signal);
    const l2 = this.#l2;
    this.#reads = l2 === undefined ? undefined : new ReadThrough(this.#core, this.#loader, l2);
    if (l2 !== undefined && writeMode === 'behind') {
      this.#queue = new WriteBehindQueue({
        flushIntervalMs: settings.flushIntervalMs,
        maxBatch: settings.maxBatch,
        write: (batch) => l2.writeMany(batch),
      });
    }
    if (settings.l2 !== undefined && l2 !== undefined) {
      this.#sync = new L2Sync({
        client: settings.l2,
        core: this.#core,
        l2,
        loader: this.#loader,
        repair: this.#repair,
        closed: this.#closeController.signal,
        owner: this,
        deleteKey: (key) => this.#deleteInL2([key]),
        deleteTag: (tag) => this.#deleteTagInL2(tag),
      });
    }
  }

  /**
   * Resolves once the Redis client is connected and the invalidation subscription is active
   * (at once without L2). Until then the cache works from L1 and the source only. Rejects
   * with AbortedError when `signal` aborts first.
   */
  async ready(signal?: AbortSignal): Promise<void> {
    await this.#sync?.ready(signal);
  }

  /**
   * Returns the cached value of `key`, or calls `factory` once (per process, and with L2 per
   * cluster of instances) to compute it, caches it and returns it. A factory returning
   * undefined means "not found" (cached for `negativeTtlMs`).
   *
   * @throws {@link CacheLoaderError} `HP_ERR_CACHE_LOADER` when the factory fails and no stale value exists
   * @throws {@link CacheTimeoutError} `HP_ERR_CACHE_TIMEOUT` past `hardTimeoutMs` with no stale value
   * @throws {@link AbortedError} `HP_ERR_ABORTED` when `options.signal` aborts
   * @example
   * const user = await cache.getOrSet(`user:${id}`, ({ signal }) => db.findUser(id, { signal }), { ttlMs: 30_000, staleMs: 60_000 });
   */
  getOrSet<T>(
    key: string,
    factory: Factory<T>,
    options: GetOrSetOptions = EMPTY,
  ): Promise<T | undefined> {
    const entry = this.#l1.get(key);
    if (entry !== undefined) {
      const now = this.#clock.now();
      if (now < entry.hitUntil) {
        this.#counters.l1Hits++;
        if (now >= entry.refreshAt) {
          entry.refreshAt = Infinity;
          if (!this.#closeController.signal.aborted && !this.#loader.has(key))
            this.#background(
              this.#loader.load(
                key,
                factory as Factory<unknown>,
                this.#resolve(options),
                undefined,
                false,
              ),
            );
        }
        return (entry.resolved ??= Promise.resolve(entry.value)) as Promise<T | undefined>;
      }
    }
    return this.#slowGetOrSet(key, factory as Factory<unknown>, options, entry) as Promise<
      T | undefined
    >;
  }

  // Not async: on the L1-miss path every promise counts (bench/cache/l2-hit.bench.ts).
  #slowGetOrSet(
    key: string,
    factory: Factory<unknown>,
    options: GetOrSetOptions,
    entry: ReturnType<MemoryTier['get']>,
  ): Promise<unknown> {
    if (this.#closeController.signal.aborted) return Promise.reject(new ClosedError('cache'));
    let o: ResolvedOptions;
    try {
      o = this.#resolve(options);
    } catch (error) {
      return Promise.reject(error as Error);
    }
    const counters = this.#core.counters;
    counters.l1Misses++;
    const now = this.#core.clock.now();
    // Past l1Until an L1 copy may have missed an invalidation: it is not served, even stale.
    const stale =
      entry !== undefined && !entry.negative && now < entry.staleUntil && now < entry.l1Until
        ? entry
        : undefined;
    if (stale !== undefined && o.softTimeoutMs === 0) {
      // Stale-while-revalidate: answer now, one background load refreshes. With a
      // softTimeoutMs the caller waits that long for the fresh value first (loader.wait).
      counters.l1Stale++;
      counters.staleServed++;
      this.#background(this.#loader.load(key, factory, o, stale, false));
      return Promise.resolve(stale.value);
    }
    const reads = this.#reads;
    if (
      reads !== undefined &&
      stale === undefined &&
      options.signal === undefined &&
      !this.#loader.has(key)
    ) {
      return reads.read(key, factory, o);
    }
    const flight = this.#loader.load(key, factory, o, stale);
    return this.#loader.wait(flight, o, stale, options.signal);
  }

  /**
   * The fresh value of `key` in this process's L1, synchronously, or undefined: on a miss, for
   * a cached "not found", and once the entry is due for a refresh-ahead (so the caller's
   * {@link getOrSet} starts it). Never reads L2 or loads. A caller whose L1 hits are most of its
   * traffic answers them without a promise, then falls back to `getOrSet`; an L1 hit is counted
   * only when a value is returned.
   * @example
   * const payment = cache.peek<Payment>(key) ?? (await cache.getOrSet(key, load));
   */
  peek<T>(key: string): T | undefined {
    const entry = this.#l1.get(key);
    if (entry === undefined || entry.negative) return undefined;
    const now = this.#clock.now();
    if (now >= entry.hitUntil || now >= entry.refreshAt) return undefined;
    this.#counters.l1Hits++;
    return entry.value as T;
  }

  /** Returns the fresh cached value of `key` (L1, then L2), or undefined. */
  async get<T>(key: string): Promise<T | undefined> {
    const core = this.#core;
    const entry = this.#l1.get(key);
    if (entry !== undefined && core.clock.now() < entry.hitUntil) {
      core.counters.l1Hits++;
      return entry.value as T;
    }
    core.counters.l1Misses++;
    const l2 = this.#l2;
    const reads = this.#reads;
    if (l2 === undefined || reads === undefined || this.#closeController.signal.aborted)
      return undefined;
    const flight = this.#loader.current(key);
    if (flight !== undefined) {
      const value = await flight.promise.catch(() => undefined);
      if (value !== undefined && !flight.stale) return value as T;
    }
    const mutations = reads.mutations;
    const record = core.readRecord(await l2.get(key));
    if (record === undefined || core.clock.now() >= record.env.freshUntil) {
      core.counters.l2Misses++;
      return undefined;
    }
    core.counters.l2Hits++;
    if (mutations === reads.mutations)
      core.promote(key, record.env, record.value, undefined, this.#defaults.l1TtlMs, false);
    return record.value as T;
  }

  /**
   * Stores `value` under `key` in L1 and L2 (write-through: resolves once L2 holds it;
   * write-behind: once queued). Every other instance drops its L1 copy. If L2 is down the
   * value is kept in L1 and the key is repaired in L2 when Redis is back.
   *
   * @throws {@link CacheSerializeError} `HP_ERR_CACHE_SERIALIZE` when L2 is configured and the value cannot be serialized
   */
  async set(key: string, value: unknown, options: SetOptions = EMPTY): Promise<void> {
    this.#assertOpen();
    const core = this.#core;
    const o = this.#resolve(options);
    const version = core.nextVersion();
    const prepared = core.prepare(
      key,
      value,
      value === undefined ? { ...o, negativeTtlMs: o.ttlMs } : o,
      version,
    );
    this.#mutated();
    this.#loader.invalidate(key);
    core.installL1(key, prepared.entry);
    const write = prepared.write;
    if (write === undefined || this.#l2 === undefined) return;
    if (this.#queue !== undefined) {
      this.#queue.enqueue(write);
      return;
    }
    if (!(await this.#l2.write(write))) this.#repair.markKey(key);
  }

  /** Removes `key` from every instance's L1 and from L2. */
  delete(key: string): Promise<void> {
    return this.deleteMany([key]);
  }

  /**
   * Removes each of `keys` as {@link Cache.delete} does, with one L2 round trip for all of
   * them (the keys a change makes stale, e.g. an entity and an aggregate over it).
   *
   * @example
   * await cache.deleteMany([`payment:${id}`, `summary:${userId}`]);
   */
  async deleteMany(keys: readonly string[]): Promise<void> {
    this.#assertOpen();
    if (keys.length === 0) return;
    this.#mutated();
    for (const key of keys) {
      this.#loader.invalidate(key);
      this.#l1.delete(key);
      this.#queue?.drop(key);
    }
    if (this.#l2 === undefined) return;
    if (!(await this.#deleteInL2(keys))) for (const key of keys) this.#repair.markKey(key);
  }

  async #deleteInL2(keys: readonly string[]): Promise<boolean> {
    const core = this.#core;
    const deletes = keys.map((key) => {
      const version = core.nextVersion();
      return {
        key,
        tombstone: core.tombstone(version),
        version,
        message: formatMessage('i', core.origin, version, key),
      };
    });
    const used = await this.#l2!.delete(deletes, core.tombstoneMs);
    if (used === false) return false;
    // Above the records they replaced: this instance's next versions follow them.
    for (const version of used) core.observeVersion(version);
    return true;
  }

  /** Removes every entry stored with `tag`, in every instance. */
  async deleteByTag(tag: string): Promise<void> {
    this.#assertOpen();
    checkString('tag', tag);
    this.#mutated();
    this.#l1.deleteTag(tag);
    this.#loader.invalidateTag(tag);
    this.#queue?.dropWhere((w) => w.tags?.includes(tag) === true);
    if (this.#l2 === undefined) return;
    if (!(await this.#deleteTagInL2(tag))) {
      this.#repair.markTag(tag);
    }
  }

  #deleteTagInL2(tag: string): Promise<boolean> {
    const core = this.#core;
    const version = core.nextVersion();
    return this.#l2!.deleteTag(
      tag,
      core.tombstone(version),
      core.tombstoneMs,
      formatMessage('t', core.origin, version, tag),
    );
  }

  /** Empties L1 here and in every instance, and removes the namespace's keys from L2. */
  async clear(): Promise<void> {
    this.#assertOpen();
    this.#mutated();
    this.#l1.clear();
    this.#loader.invalidateAll();
    this.#queue?.dropWhere(() => true);
    if (this.#l2 === undefined) return;
    const core = this.#core;
    if (!(await this.#l2.clear(formatMessage('c', core.origin, core.nextVersion(), ''))))
      this.#repair.markAll();
  }

  /** Counters per tier since creation. */
  stats(): CacheStats {
    return snapshotStats(this.#core.counters, {
      l1: this.#l1,
      l2: this.#l2,
      factoryLatency: this.#core.factoryLatency,
      queue: this.#queue,
    });
  }

  /**
   * Stops the cache: aborts running factories, flushes write-behind writes to L2 (retrying
   * for `writeBehind.closeTimeoutMs` while L2 is down), waits for background L2 writes and
   * closes the pub/sub connection. The caller's Redis client stays open.
   *
   * @throws {@link CacheFlushError} `HP_ERR_CACHE_FLUSH` when write-behind writes could not be flushed
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    const reason = new ClosedError('cache');
    this.#closeController.abort(reason);
    this.#loader.abortAll(reason);
    await this.#loader.settled();
    const left =
      this.#queue === undefined
        ? 0
        : await this.#queue.drain(this.#closeTimeoutMs, Math.max(10, this.#l2RetryMs));
    await this.#core.settled();
    await this.#sync?.close();
    this.#l1.clear();
    if (left > 0) throw new CacheFlushError(left);
  }

  /** A load nobody awaits (a refresh): its failure is counted in stats, not thrown. */
  #background(flight: Flight): void {
    flight.promise.catch(() => undefined);
  }

  /** A local write: reads of L2 already under way must not promote what they find. */
  #mutated(): void {
    if (this.#reads !== undefined) this.#reads.mutations++;
  }

  #assertOpen(): void {
    if (this.#closeController.signal.aborted) throw new ClosedError('cache');
  }

  #resolve(options: GetOrSetOptions): ResolvedOptions {
    let resolved = this.#resolved.get(options);
    if (resolved === undefined) {
      resolved = resolveCallOptions(options, this.#defaults);
      this.#resolved.set(options, resolved);
    }
    return resolved;
  }
}

/**
 * Creates a cache: L1 only, or L1 + L2 when `l2` (an ioredis client) is given.
 *
 * @throws {@link InvalidOptionError} `HP_ERR_INVALID_OPTION` naming the bad option
 * @example
 * import { Redis } from 'ioredis';
 * import { createCache } from 'hotpath/cache';
 * const cache = createCache({ namespace: 'payments', l1: { max: 50_000, maxBytes: 64 << 20 }, l2: new Redis(url) });
 * const payment = await cache.getOrSet(`payment:${id}`, () => repo.find(id), { ttlMs: 60_000, tags: [`user:${userId}`] });
 */
export function createCache(options: CacheOptions): Cache {
  return new Cache(options);
}
