import { ShardRouter } from 'hotpath/db';
import type { PaymentRepository } from './repository.js';
import { ID_SHARDS, shardOfId, uuid7 } from './uuid7.js';

/**
 * Where the payments domain's rows live: one database, or several shards (DATABASE_SHARD_URLS)
 * with each user's payments on the shard hotpath/db's `ShardRouter` picks for its `user_id`
 * (jump consistent hash). A sharded payment's id holds its shard's index ({@link uuid7}), so a
 * payment is found from its id alone, on one shard; an Idempotency-Key's record lives on the
 * shard its key hashes to (docs/sharding.md).
 */
export class PaymentShards {
  readonly #router: ShardRouter<PaymentRepository>;
  readonly #sharded: boolean;

  /**
   * @param repositories one per database, in shard order (only ever append: jump hash keeps
   *   users in place only then); one repository = one database, ids without a shard.
   * @throws RangeError with no repository or more than 64.
   */
  constructor(repositories: readonly PaymentRepository[]) {
    if (repositories.length < 1 || repositories.length > ID_SHARDS)
      throw new RangeError(`expected 1 to ${ID_SHARDS} repositories, got ${repositories.length}`);
    this.#router = new ShardRouter({ shards: repositories });
    this.#sharded = repositories.length > 1;
  }

  /** Number of databases. */
  get size(): number {
    return this.#router.size;
  }

  /** True with more than one database. */
  get isSharded(): boolean {
    return this.#sharded;
  }

  /** Every repository, in shard order (sweeps, the invariant check). */
  all(): readonly PaymentRepository[] {
    return this.#router.all();
  }

  /** The index of the shard holding `userId`'s payments. */
  indexOfUser(userId: number): number {
    return this.#router.indexFor(userId);
  }

  /** The repository holding `userId`'s payments. */
  forUser(userId: number): PaymentRepository {
    return this.#router.shardFor(userId);
  }

  /** The repository holding the record of an Idempotency-Key (sharded service). */
  forKey(key: string): PaymentRepository {
    return this.#router.shardFor(key);
  }

  /**
   * The repository holding the payment `id`: the shard its id names, or `undefined` when it
   * names none of them (so no payment of this service has that id).
   */
  forId(id: string): PaymentRepository | undefined {
    if (!this.#sharded) return this.#router.all()[0];
    return this.#router.all()[shardOfId(id)];
  }

  /** A new payment id for `userId`: naming its shard when sharded. */
  newId(userId: number): string {
    return this.#sharded ? uuid7(Date.now(), this.indexOfUser(userId)) : uuid7();
  }
}
