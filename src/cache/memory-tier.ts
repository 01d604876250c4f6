import { LRUCache } from 'lru-cache';

/** One L1 entry. Times are wall-clock milliseconds from the cache's clock. */
export interface L1Entry {
  /** The value; undefined for a cached "not found". */
  value: unknown;
  negative: boolean;
  version: number;
  /** Served without any check before this time: min(l1Until, freshUntil). */
  hitUntil: number;
  /** The L1 copy is dropped (re-read from L2) after this time. */
  l1Until: number;
  freshUntil: number;
  staleUntil: number;
  /** Refresh in the background once past this time (Infinity: never). */
  refreshAt: number;
  tags: readonly string[] | undefined;
  /** Bytes counted against l1.maxBytes. */
  size: number;
  /**
   * The value as a settled promise, made on the first hit and reused: an L1 hit then
   * allocates nothing (bench/cache/l1-hit.bench.ts).
   */
  resolved: Promise<unknown> | undefined;
}

/** Options of the in-process tier. */
export interface MemoryTierOptions {
  max: number;
  maxBytes: number | undefined;
}

/**
 * The L1 tier: lru-cache bounded by entry count and (optionally) by bytes, plus a tag index
 * kept only for entries that have tags. Expiry is checked by the cache itself (it needs
 * fresh, stale and refresh times), so lru-cache's own TTL is not used.
 */
export class MemoryTier {
  readonly #lru: LRUCache<string, L1Entry>;
  readonly #byTag = new Map<string, Set<string>>();

  constructor(options: MemoryTierOptions) {
    this.#lru = new LRUCache<string, L1Entry>({
      max: options.max,
      ...(options.maxBytes === undefined
        ? {}
        : { maxSize: options.maxBytes, sizeCalculation: (entry: L1Entry) => entry.size }),
      dispose: (entry, key) => {
        if (entry.tags !== undefined) this.#untag(key, entry.tags);
      },
    });
  }

  /** Looks an entry up and marks it recently used. */
  get(key: string): L1Entry | undefined {
    return this.#lru.get(key);
  }

  /** Looks an entry up without touching its recency. */
  peek(key: string): L1Entry | undefined {
    return this.#lru.peek(key);
  }

  /**
   * Stores an entry. An entry larger than the byte bound is not stored (and any older entry
   * for the key is dropped): the tier evicts, it never throws.
   */
  set(key: string, entry: L1Entry): void {
    if (entry.size <= 0) entry.size = 1;
    this.#lru.set(key, entry);
    if (entry.tags !== undefined && this.#lru.peek(key) === entry) {
      for (const tag of entry.tags) {
        let keys = this.#byTag.get(tag);
        if (keys === undefined) this.#byTag.set(tag, (keys = new Set()));
        keys.add(key);
      }
    }
  }

  delete(key: string): void {
    this.#lru.delete(key);
  }

  /** Drops every entry carrying `tag` and returns their keys. */
  deleteTag(tag: string): string[] {
    const keys = this.#byTag.get(tag);
    if (keys === undefined) return [];
    const list = [...keys];
    for (const key of list) this.#lru.delete(key);
    this.#byTag.delete(tag);
    return list;
  }

  clear(): void {
    this.#lru.clear();
    this.#byTag.clear();
  }

  /** Number of entries. */
  get size(): number {
    return this.#lru.size;
  }

  /** Bytes counted against maxBytes (0 when unbounded by bytes). */
  get bytes(): number {
    return this.#lru.calculatedSize ?? 0;
  }

  #untag(key: string, tags: readonly string[]): void {
    for (const tag of tags) {
      const keys = this.#byTag.get(tag);
      if (keys === undefined) continue;
      keys.delete(key);
      if (keys.size === 0) this.#byTag.delete(tag);
    }
  }
}
