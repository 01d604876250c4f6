import type { Redis } from 'ioredis';
import type { Clock } from '../internal/clock.js';
import { type L2Read, L2Reads } from './l2-reads.js';
import { LatencyRecorder } from './latency.js';

// A set never overwrites a newer version (or a delete's tombstone). A fill, the result of a
// load (ARGV[7]: the version of the record the load read, '0' for none), is written only if
// the record is still the one it read: any write since, even one whose version ties or,
// from an instance whose clock runs behind, is lower, wins over a value that may predate it.
const VERSION_GUARD = `
local cur = redis.call('GET', KEYS[1])
local v = cur and tonumber(string.match(cur, '^(%d+)|')) or 0
local current
if ARGV[7] ~= '' then current = v == tonumber(ARGV[7]) else current = v <= tonumber(ARGV[2]) end`;

// The write, tags from KEYS[first] on.
const WRITE = (first: number) => `
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
for i = ${first}, #KEYS do
  redis.call('SADD', KEYS[i], ARGV[6])
  redis.call('PEXPIRE', KEYS[i], ARGV[3], 'NX')
  redis.call('PEXPIRE', KEYS[i], ARGV[3], 'GT')
end
if ARGV[5] ~= '' then redis.call('PUBLISH', ARGV[4], ARGV[5]) end`;

const SET_SCRIPT = `${VERSION_GUARD}
if not current then return 0 end${WRITE(2)}
return 1`;

// A load's result and the release of its compute lease (KEYS[2], held by ARGV[8]) in one
// step: SET_SCRIPT then RELEASE_SCRIPT without a message, one round trip instead of two. The
// write's own message wakes the waiters; one refused by the guard leaves that to the newer
// write that refused it.
const FILL_SCRIPT = `${VERSION_GUARD}
if current then${WRITE(3)}
end
if redis.call('GET', KEYS[2]) == ARGV[8] then redis.call('DEL', KEYS[2]) end
return current and 1 or 0`;

// A delete always leaves its tombstone. A cache entry is a copy of the source: removing a copy
// newer than the delete costs one extra load, while keeping one older than the change that
// caused the delete serves that change stale for a whole TTL. The tombstone's version is above
// the record it replaces (the given version, or that record's version + 1 when the given one
// is not higher: the record may come from an instance whose clock runs ahead, or a deleter's
// cached clock may lag behind its event loop), and the published message carries the same
// version, so no instance promotes the replaced record from a read already under way.
// Each of KEYS so, with ARGV[1] the tombstones' TTL, ARGV[2] the channel and, from ARGV[3],
// three per key: tombstone, version, message. Several keys cost one round trip, not one each.
// Returns the versions used.
const DELETE_SCRIPT = `
local used = {}
for i = 1, #KEYS do
  local a = i * 3
  local given = ARGV[a + 1]
  local ver = tonumber(given)
  local cur = redis.call('GET', KEYS[i])
  if cur then
    local v = tonumber(string.match(cur, '^(%d+)|'))
    if v and v >= ver then ver = v + 1 end
  end
  local tomb, msg = ARGV[a], ARGV[a + 2]
  if ver ~= tonumber(given) then
    local vs = string.format('%.0f', ver)
    tomb = vs .. string.sub(tomb, #given + 1)
    local s, e = string.find(msg, '|' .. given .. '|', 1, true)
    msg = string.sub(msg, 1, s) .. vs .. string.sub(msg, e)
  end
  redis.call('SET', KEYS[i], tomb, 'PX', ARGV[1])
  redis.call('PUBLISH', ARGV[2], msg)
  used[i] = ver
end
return used`;

// The tag's keys, tombstoned as DELETE_SCRIPT does one key: at a version above every record
// replaced, carried by the message too.
const TAG_SCRIPT = `
local members = redis.call('SMEMBERS', KEYS[1])
local given = string.match(ARGV[2], '^(%d+)|')
local ver = tonumber(given)
for _, m in ipairs(members) do
  local cur = redis.call('GET', ARGV[1] .. m)
  local v = cur and tonumber(string.match(cur, '^(%d+)|'))
  if v and v >= ver then ver = v + 1 end
end
local tomb, msg = ARGV[2], ARGV[5]
if ver ~= tonumber(given) then
  local vs = string.format('%.0f', ver)
  tomb = vs .. string.sub(ARGV[2], #given + 1)
  local s, e = string.find(msg, '|' .. given .. '|', 1, true)
  msg = string.sub(msg, 1, s) .. vs .. string.sub(msg, e)
end
for _, m in ipairs(members) do
  redis.call('SET', ARGV[1] .. m, tomb, 'PX', ARGV[3])
end
redis.call('DEL', KEYS[1])
redis.call('PUBLISH', ARGV[4], msg)
return #members`;

const RELEASE_SCRIPT = `
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
if ARGV[3] ~= '' then redis.call('PUBLISH', ARGV[2], ARGV[3]) end
return 1`;

type ScriptClient = Redis & {
  hotpathCacheSet(...args: (string | number)[]): Promise<number>;
  hotpathCacheFill(...args: (string | number)[]): Promise<number>;
  hotpathCacheDelete(...args: (string | number)[]): Promise<number[]>;
  hotpathCacheTag(...args: (string | number)[]): Promise<number>;
  hotpathCacheRelease(...args: (string | number)[]): Promise<number>;
};

/** One write for {@link RedisTier.write} and {@link RedisTier.writeMany}. */
export interface L2Write {
  key: string;
  record: string;
  version: number;
  ttlMs: number;
  tags: readonly string[] | undefined;
  /** The pub/sub message announcing the write ('' for none). */
  message: string;
  /**
   * Set for a load's result: the version of the record the load read ('0' for none). The
   * write happens only if that record is still there (see VERSION_GUARD).
   */
  basis?: string;
}

/** One key's delete for {@link RedisTier.delete}. */
export interface L2Delete {
  key: string;
  /** The tombstone record, at `version`. */
  tombstone: string;
  version: number;
  /** The pub/sub message announcing the delete, at `version`. */
  message: string;
}

/** Options of the Redis tier. */
export interface RedisTierOptions {
  namespace: string;
  timeoutMs: number;
  retryMs: number;
  /** Most keys per MGET. */
  readBatch: number;
  clock: Clock;
  /** Called with every failure, for stats. */
  onError: (error: unknown) => void;
}

const FAILED = Symbol('failed');
type Failed = typeof FAILED;

/**
 * The L2 tier on an ioredis client the caller owns. Reads queued in the same event-loop turn
 * are sent as pipelined MGETs (l2-reads.ts). Every operation is bounded by
 * `timeoutMs`; after a failure the tier reports itself unusable for `retryMs`, and also while
 * the client is not connected, so a Redis outage costs no waiting: callers fall back to L1
 * and the source. ioredis reconnects by itself and the tier is used again once it is ready.
 */
export class RedisTier {
  readonly client: ScriptClient;
  readonly channel: string;
  readonly readLatency = new LatencyRecorder();
  readonly #prefix: string;
  readonly #tagPrefix: string;
  readonly #leasePrefix: string;
  readonly #options: RedisTierOptions;
  #downUntil = 0;
  #recoveryTimer: NodeJS.Timeout | undefined;
  readonly #reads: L2Reads;
  /**
   * Called once the tier is usable again after failures marked it down while the client stayed
   * connected (a timeout, an error reply): what could not reach L2 meanwhile is replayed then,
   * not only after a reconnect.
   */
  onUsableAgain: (() => void) | undefined;

  constructor(client: Redis, options: RedisTierOptions) {
    this.#options = options;
    this.#prefix = `${options.namespace}:v:`;
    this.#tagPrefix = `${options.namespace}:t:`;
    this.#leasePrefix = `${options.namespace}:l:`;
    this.channel = `${options.namespace}:bus`;
    const c = client as ScriptClient;
    if (typeof c.hotpathCacheSet !== 'function') {
      client.defineCommand('hotpathCacheSet', { lua: SET_SCRIPT });
      client.defineCommand('hotpathCacheFill', { lua: FILL_SCRIPT });
      client.defineCommand('hotpathCacheDelete', { lua: DELETE_SCRIPT });
      client.defineCommand('hotpathCacheTag', { lua: TAG_SCRIPT, numberOfKeys: 1 });
      client.defineCommand('hotpathCacheRelease', { lua: RELEASE_SCRIPT, numberOfKeys: 1 });
    }
    this.client = c;
    this.#reads = new L2Reads({
      client: c,
      prefix: this.#prefix,
      batchSize: options.readBatch,
      timeoutMs: options.timeoutMs,
      usable: () => this.usable,
      fail: (error) => this.#fail(error),
      latency: this.readLatency,
    });
  }

  /** True when the client is connected and no failure happened in the last `retryMs`. */
  get usable(): boolean {
    return this.client.status === 'ready' && this.#options.clock.now() >= this.#downUntil;
  }

  /** Marks the tier usable again at once (after a reconnect). */
  markUp(): void {
    this.#downUntil = 0;
  }

  /** Reads one record: a string, null when absent, undefined when L2 is unusable or failed. */
  get(key: string): Promise<string | null | undefined> {
    if (!this.usable) return Promise.resolve(undefined);
    return this.#reads.get(key);
  }

  /**
   * Queues a read for the next batch (the caller checked {@link usable}); it is sent at the
   * end of this event-loop turn. `read.settle` must not throw.
   */
  enqueue(read: L2Read): void {
    this.#reads.enqueue(read);
  }

  /** Writes one record if no newer version is stored; false when it could not be written. */
  async write(w: L2Write): Promise<boolean> {
    if (!this.usable) return false;
    const result = await this.#guard(this.client.hotpathCacheSet(...this.#setArgs(w, undefined)));
    return result !== FAILED;
  }

  /**
   * Writes a load's result (as {@link write}) and releases the compute lease `token` holds,
   * in one round trip; false when L2 could not be reached (the lease then expires).
   */
  async fill(w: L2Write, token: string): Promise<boolean> {
    if (!this.usable) return false;
    const args = this.#setArgs(w, this.#leasePrefix + w.key);
    args.push(token);
    const result = await this.#guard(this.client.hotpathCacheFill(...args));
    return result !== FAILED;
  }

  /** Writes several records in one pipeline; false when the pipeline failed. */
  async writeMany(writes: readonly L2Write[]): Promise<boolean> {
    if (!this.usable) return false;
    const pipeline = this.client.pipeline() as ReturnType<Redis['pipeline']> & {
      hotpathCacheSet(...args: (string | number)[]): unknown;
    };
    for (const w of writes) pipeline.hotpathCacheSet(...this.#setArgs(w, undefined));
    const result = await this.#guard(pipeline.exec());
    if (result === FAILED || result === null) return false;
    return result.every(([error]) => error === null);
  }

  /** The arguments of SET_SCRIPT, or of FILL_SCRIPT with `leaseKey` (its token comes last). */
  #setArgs(w: L2Write, leaseKey: string | undefined): (string | number)[] {
    const tags = w.tags ?? [];
    const keys = [this.#prefix + w.key];
    if (leaseKey !== undefined) keys.push(leaseKey);
    for (const t of tags) keys.push(this.#tagPrefix + t);
    return [
      keys.length,
      ...keys,
      w.record,
      w.version,
      Math.max(1, Math.ceil(w.ttlMs)),
      this.channel,
      w.message,
      w.key,
      w.basis ?? '',
    ];
  }

  /**
   * Replaces each key by its tombstone and publishes its message, in one round trip. A
   * tombstone's version (and its message's) is the one given, or one above the replaced
   * record's when that one is not lower. Resolves to the versions used, in order, or false
   * when L2 could not be reached.
   */
  async delete(deletes: readonly L2Delete[], ttlMs: number): Promise<number[] | false> {
    if (!this.usable) return false;
    const args: (string | number)[] = [deletes.length];
    for (const d of deletes) args.push(this.#prefix + d.key);
    args.push(Math.ceil(ttlMs), this.channel);
    for (const d of deletes) args.push(d.tombstone, d.version, d.message);
    const result = await this.#guard(this.client.hotpathCacheDelete(...args));
    return result === FAILED ? false : result;
  }

  /** Tombstones every key tagged `tag` and publishes `message`. */
  async deleteTag(
    tag: string,
    tombstone: string,
    ttlMs: number,
    message: string,
  ): Promise<boolean> {
    if (!this.usable) return false;
    const result = await this.#guard(
      this.client.hotpathCacheTag(
        this.#tagPrefix + tag,
        this.#prefix,
        tombstone,
        Math.ceil(ttlMs),
        this.channel,
        message,
      ),
    );
    return result !== FAILED;
  }

  /** Removes every key of the namespace (SCAN + UNLINK), then publishes `message`. */
  async clear(message: string): Promise<boolean> {
    if (!this.usable) return false;
    const work = async (): Promise<void> => {
      for (const pattern of [`${this.#prefix}*`, `${this.#tagPrefix}*`]) {
        let cursor = '0';
        do {
          const [next, keys] = await this.client.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
          cursor = next;
          if (keys.length > 0) await this.client.unlink(...keys);
        } while (cursor !== '0');
      }
      await this.client.publish(this.channel, message);
    };
    try {
      await work();
      return true;
    } catch (error) {
      this.#fail(error);
      return false;
    }
  }

  /** Tries to take the compute lease of `key`: true taken, false held by another, undefined failed. */
  async acquire(key: string, token: string, leaseMs: number): Promise<boolean | undefined> {
    if (!this.usable) return undefined;
    const result = await this.#guard(
      this.client.set(this.#leasePrefix + key, token, 'PX', Math.ceil(leaseMs), 'NX'),
    );
    return result === FAILED ? undefined : result === 'OK';
  }

  /** Releases a lease we hold; publishes `message` (if not '') to wake the waiters. */
  async release(key: string, token: string, message: string): Promise<void> {
    if (!this.usable) return;
    await this.#guard(
      this.client.hotpathCacheRelease(this.#leasePrefix + key, token, this.channel, message),
    );
  }

  /** Settles with the result, or FAILED after `timeoutMs` or an error (and marks the tier down). */
  #guard<T>(request: Promise<T>): Promise<T | Failed> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#fail(new Error(`L2 did not answer within ${this.#options.timeoutMs} ms`));
        resolve(FAILED);
      }, this.#options.timeoutMs);
      request.then(
        (value) => {
          clearTimeout(timer);
          resolve(value);
        },
        (error: unknown) => {
          clearTimeout(timer);
          this.#fail(error);
          resolve(FAILED);
        },
      );
    });
  }

  #fail(error: unknown): void {
    this.#downUntil = this.#options.clock.now() + this.#options.retryMs;
    this.#options.onError(error);
    if (this.#recoveryTimer === undefined) this.#watchRecovery(this.#options.retryMs);
  }

  /** Calls `onUsableAgain` when the down window has passed with the client still connected. */
  #watchRecovery(delayMs: number): void {
    this.#recoveryTimer = setTimeout(() => {
      this.#recoveryTimer = undefined;
      if (this.onUsableAgain === undefined || this.client.status !== 'ready') return; // a reconnect replays
      if (this.usable) this.onUsableAgain();
      else this.#watchRecovery(Math.max(1, this.#downUntil - this.#options.clock.now()));
    }, delayMs);
    this.#recoveryTimer.unref();
  }

  /** Stops watching for recovery (close). */
  stopWatching(): void {
    clearTimeout(this.#recoveryTimer);
    this.#recoveryTimer = undefined;
    this.onUsableAgain = undefined;
  }
}
