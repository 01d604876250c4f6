import { randomFillSync } from 'node:crypto';

const bytes = new Uint8Array(16);
let lastMs = 0;
let counter = 0;

/** Shards a payment id can name: the 6 bits after the variant (see {@link uuid7}). */
export const ID_SHARDS = 64;

/**
 * A UUIDv7 (RFC 9562): 48-bit Unix milliseconds, then random bits, with a 12-bit counter in
 * rand_a so ids made in the same millisecond by this process still sort in creation order.
 * Time-ordered ids make `(user_id, id)` a keyset order without a separate timestamp column.
 *
 * With `shard` (0 to 63), the 6 bits after the variant (the top of rand_b, byte 8) hold it,
 * so a sharded service finds a payment from its id alone ({@link shardOfId}); 56 random bits
 * remain. The order of ids is unchanged: time and counter come first.
 */
export function uuid7(now = Date.now(), shard?: number): string {
  if (now <= lastMs) {
    counter++;
    if (counter > 0xfff) {
      // 4,096 ids in one millisecond: borrow the next millisecond.
      lastMs++;
      counter = 0;
    }
    now = lastMs;
  } else {
    lastMs = now;
    counter = 0;
  }
  randomFillSync(bytes);
  bytes[0] = (now / 2 ** 40) & 0xff;
  bytes[1] = (now / 2 ** 32) & 0xff;
  bytes[2] = (now >>> 24) & 0xff;
  bytes[3] = (now >>> 16) & 0xff;
  bytes[4] = (now >>> 8) & 0xff;
  bytes[5] = now & 0xff;
  bytes[6] = 0x70 | ((counter >>> 8) & 0x0f);
  bytes[7] = counter & 0xff;
  bytes[8] = 0x80 | (shard === undefined ? bytes[8]! & 0x3f : shardBits(shard));
  const hex = Buffer.from(bytes).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

function shardBits(shard: number): number {
  if (!Number.isInteger(shard) || shard < 0 || shard >= ID_SHARDS)
    throw new RangeError(`shard must be an integer in [0, ${ID_SHARDS - 1}], got ${shard}`);
  return shard;
}

/** The shard index a {@link uuid7} made with `shard` holds (any UUID gives some 0..63). */
export function shardOfId(id: string): number {
  // xxxxxxxx-xxxx-xxxx-Vxxx-...: byte 8 is the two hex digits after the third dash.
  return Number.parseInt(id.slice(19, 21), 16) & 0x3f;
}

export const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
