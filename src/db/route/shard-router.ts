import { InvalidOptionError } from '../../errors/index.js';

const MASK64 = (1n << 64n) - 1n;

/** 64-bit FNV-1a of a key's UTF-8 bytes (or of its decimal text for numbers and bigints). */
export function hashKey(key: string | number | bigint): bigint {
  let h = 0xcbf29ce484222325n;
  for (const byte of Buffer.from(String(key))) {
    h ^= BigInt(byte);
    h = (h * 0x100000001b3n) & MASK64;
  }
  return h;
}

/**
 * Jump consistent hash (Lamping & Veach, 2014): maps a 64-bit key to one of `buckets` buckets so
 * that growing from n to n+1 buckets moves only 1/(n+1) of the keys, with no table to keep.
 */
export function jumpHash(key: bigint, buckets: number): number {
  let k = key & MASK64;
  let b = -1;
  let j = 0;
  while (j < buckets) {
    b = j;
    k = (k * 2862933555777941757n + 1n) & MASK64;
    j = Math.floor((b + 1) * (2 ** 31 / (Number(k >> 33n) + 1)));
  }
  return b;
}

/** Options of {@link ShardRouter}. */
export interface ShardRouterOptions<Shard> {
  /** The shards in a fixed order; only append new ones at the end (jump hash needs it). */
  shards: readonly Shard[];
}

/**
 * Routes a key (user id, tenant id) to one of several shards (pools) with jump consistent hash:
 * adding a shard moves about 1/n of the keys, where `hash % n` moves almost all of them.
 *
 * @example
 * const router = new ShardRouter({ shards: [poolA, poolB, poolC] });
 * await router.shardFor(userId).query('SELECT ... WHERE user_id = $1', [userId]);
 */
export class ShardRouter<Shard> {
  readonly #shards: readonly Shard[];

  /** @throws {@link InvalidOptionError} `HP_ERR_INVALID_OPTION` without shards. */
  constructor(options: ShardRouterOptions<Shard>) {
    if (!Array.isArray(options?.shards) || options.shards.length === 0) {
      throw new InvalidOptionError('shards', 'expected at least one shard');
    }
    this.#shards = [...options.shards];
  }

  /** Number of shards. */
  get size(): number {
    return this.#shards.length;
  }

  /** The index of the shard that owns `key`. */
  indexFor(key: string | number | bigint): number {
    return jumpHash(hashKey(key), this.#shards.length);
  }

  /** The shard that owns `key`. */
  shardFor(key: string | number | bigint): Shard {
    return this.#shards[this.indexFor(key)]!;
  }

  /** Every shard, for scatter-gather queries. */
  all(): readonly Shard[] {
    return this.#shards;
  }

  /** Closes every shard that has `close()` (or pg's `end()`). */
  async close(): Promise<void> {
    await Promise.all(
      this.#shards.map((s) => {
        const shard = s as { close?: () => Promise<void>; end?: () => Promise<void> };
        return shard.close?.() ?? shard.end?.();
      }),
    );
  }
}

/** Options of {@link ReadWriteRouter}. */
export interface ReadWriteRouterOptions<Pool> {
  primary: Pool;
  /** Read replicas; reads go to the primary when there are none. */
  replicas?: readonly Pool[];
}

/**
 * Sends writes to the primary and spreads reads over replicas (round robin). Replicas lag:
 * read your own writes from {@link ReadWriteRouter.writer}.
 */
export class ReadWriteRouter<Pool> {
  readonly #primary: Pool;
  readonly #replicas: readonly Pool[];
  #next = 0;

  /** @throws {@link InvalidOptionError} `HP_ERR_INVALID_OPTION` without a primary. */
  constructor(options: ReadWriteRouterOptions<Pool>) {
    if (options?.primary === undefined || options.primary === null) {
      throw new InvalidOptionError('primary', 'expected a pool');
    }
    this.#primary = options.primary;
    this.#replicas = [...(options.replicas ?? [])];
  }

  /** The pool for writes and read-your-writes. */
  writer(): Pool {
    return this.#primary;
  }

  /** A pool for reads that tolerate replication lag. */
  reader(): Pool {
    if (this.#replicas.length === 0) return this.#primary;
    const pool = this.#replicas[this.#next % this.#replicas.length]!;
    this.#next = (this.#next + 1) % this.#replicas.length;
    return pool;
  }

  /** Closes the primary and every replica that has `close()` (or pg's `end()`). */
  async close(): Promise<void> {
    await Promise.all(
      [this.#primary, ...this.#replicas].map((s) => {
        const pool = s as { close?: () => Promise<void>; end?: () => Promise<void> };
        return pool.close?.() ?? pool.end?.();
      }),
    );
  }
}
