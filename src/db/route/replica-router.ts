import { AsyncLocalStorage } from 'node:async_hooks';
import { monotonicClock, type Clock } from '../../internal/clock.js';
import { checkNumber } from '../../internal/validate-options.js';
import { InvalidOptionError } from '../../errors/index.js';
import type { Database, QueryExecutor, QueryResult } from '../client/database.js';
import { QueryError } from '../errors.js';
import { isReadOnly } from '../advise/explain.js';

/** Options of {@link ReplicaRouter}. */
export interface ReplicaRouterOptions {
  /** The primary: every write, and the reads the replica cannot serve yet. */
  primary: Database;
  /** A streaming replica of `primary` (hot standby). */
  replica: Database;
  /**
   * How often the replica's replay position (`pg_last_wal_replay_lsn()`) is read, in
   * milliseconds: one tiny query per interval.
   * @defaultValue 100
   */
  pollIntervalMs?: number;
  /**
   * Longest a read (or a position poll) may take on the replica before it is sent to the primary
   * and the replica is treated as unavailable until a poll answers again, in milliseconds.
   * @defaultValue 500
   */
  replicaTimeoutMs?: number;
  /**
   * When the primary's position after a write cannot be read, the writer's reads go to the
   * primary for this long instead, in milliseconds.
   * @defaultValue 2000
   */
  fallbackWindowMs?: number;
  /**
   * Where callers' write positions are shared with the other processes of the service (e.g.
   * Redis), so that a read on any instance sees a write made through another. Without it,
   * read-your-writes holds within this process only.
   */
  positions?: WritePositionStore;
  /**
   * How long a caller's write position is kept in `positions`, in milliseconds: a replica
   * further behind than this may serve a read that misses the write.
   * @defaultValue 30000
   */
  positionTtlMs?: number;
  /**
   * Milliseconds for timeouts and windows (tests drive it by hand).
   * @defaultValue `performance.now()`
   */
  clock?: Clock;
}

/**
 * Callers' write positions shared between processes. `get` answers the highest position any
 * of `callers` wrote at, or null; a store that fails makes those callers read the primary.
 */
export interface WritePositionStore {
  set(callers: readonly string[], lsn: bigint, ttlMs: number): Promise<void>;
  get(callers: readonly string[]): Promise<bigint | null>;
}

/** Counters of a {@link ReplicaRouter}. */
export interface ReplicaRouterStats {
  /** Reads served by the replica. */
  replicaReads: number;
  /** Reads sent to the primary: caller's write not replayed yet, or replica unavailable. */
  primaryReads: number;
  /** Reads sent to the primary because the replica was slower than `replicaTimeoutMs` or failed. */
  fallbacks: number;
  /** Cache fills ({@link ReplicaRouter.fill}) whose value came from the replica. */
  replicaFills: number;
  /** Cache fills answered by the primary: the replica had not replayed an owner's last write. */
  primaryFills: number;
  /** Callers waiting for the replica to replay their write. */
  pendingCallers: number;
  /** False while the replica does not answer its position poll. */
  replicaAvailable: boolean;
  /** The replica's last replay position, in bytes of WAL; null before the first poll. */
  replayLsn: bigint | null;
}

interface Context {
  callers: readonly string[];
  /** Inside {@link ReplicaRouter.fill}: the writer sends read-only statements to the replica. */
  fill?: boolean;
}

/** The caller a write made outside any caller's context (a background job) is recorded as. */
const ANY_CALLER = '*';

interface Pending {
  /** The primary's WAL position after the caller's last write; null when it could not be read. */
  lsn: bigint | null;
  at: number;
}

/** `16/B374D848` (a pg_lsn as text) -> bytes of WAL. */
export function parseLsn(text: string): bigint {
  const slash = text.indexOf('/');
  if (slash <= 0)
    throw new InvalidOptionError('lsn', `expected a pg_lsn like 0/16B3748, got "${text}"`);
  return (BigInt(`0x${text.slice(0, slash)}`) << 32n) | BigInt(`0x${text.slice(slash + 1)}`);
}

class TimeoutError extends Error {}

/**
 * Sends reads to a streaming replica and writes to the primary, with read-your-writes per
 * caller: after a caller (a user, a client id) writes, its reads go to the primary until the
 * replica has replayed past the primary's WAL position after that write
 * (`pg_current_wal_insert_lsn()` vs the replica's `pg_last_wal_replay_lsn()`, polled every
 * `pollIntervalMs`). Other callers keep reading from the replica. A replica that is slower
 * than `replicaTimeoutMs` (frozen, gone) is skipped: reads go to the primary until it answers
 * a poll again.
 *
 * Callers are named per request with {@link ReplicaRouter.runAs}; give repositories
 * {@link ReplicaRouter.writer} as their database and {@link ReplicaRouter.reader} for the reads
 * that may lag. Reads that decide a write (an idempotency lookup) belong on the writer.
 *
 * @example
 * const router = new ReplicaRouter({ primary, replica });
 * await router.runAs([`user:${userId}`], async () => {
 *   await router.writer.query('INSERT INTO payments ...', [...]);
 *   await router.reader.query('SELECT ... WHERE user_id = $1', [userId]); // the primary, until replayed
 * });
 */
export class ReplicaRouter {
  readonly #primary: Database;
  readonly #replica: Database;
  readonly #clock: Clock;
  readonly #pollIntervalMs: number;
  readonly #replicaTimeoutMs: number;
  readonly #fallbackWindowMs: number;
  readonly #positions: WritePositionStore | undefined;
  readonly #positionTtlMs: number;
  readonly #context = new AsyncLocalStorage<Context>();
  readonly #pending = new Map<string, Pending>();
  /** Every caller's last write (ANY_CALLER: writes without callers), kept positionTtlMs. */
  readonly #lastWrites = new Map<string, Pending>();
  readonly #timer: NodeJS.Timeout;
  #replayLsn: bigint | null = null;
  #available = true;
  #polling = false;
  #closed = false;
  #replicaReads = 0;
  #primaryReads = 0;
  #fallbacks = 0;
  #replicaFills = 0;
  #primaryFills = 0;

  /** The primary, as a {@link Database} that remembers the caller's WAL position after each write. */
  readonly writer: Database;
  /** Reads that may lag: the replica, or the primary while the caller's write is not replayed. */
  readonly reader: QueryExecutor;

  /** @throws {@link InvalidOptionError} `HP_ERR_INVALID_OPTION` on a bad option. */
  constructor(options: ReplicaRouterOptions) {
    for (const name of ['primary', 'replica'] as const) {
      const db = options?.[name];
      if (typeof db?.query !== 'function' || typeof db.transaction !== 'function') {
        throw new InvalidOptionError(name, 'expected a Database');
      }
    }
    this.#primary = options.primary;
    this.#replica = options.replica;
    this.#clock = options.clock ?? monotonicClock;
    this.#pollIntervalMs = checkNumber('pollIntervalMs', options.pollIntervalMs ?? 100, {
      min: 1,
    });
    this.#replicaTimeoutMs = checkNumber('replicaTimeoutMs', options.replicaTimeoutMs ?? 500, {
      min: 1,
    });
    this.#fallbackWindowMs = checkNumber('fallbackWindowMs', options.fallbackWindowMs ?? 2000, {
      min: 0,
    });
    this.#positions = options.positions;
    this.#positionTtlMs = checkNumber('positionTtlMs', options.positionTtlMs ?? 30_000, {
      min: 1,
    });
    this.writer = this.#makeWriter();
    this.reader = { query: (text, params) => this.#read(text, params) };
    this.#timer = setInterval(() => void this.poll(), this.#pollIntervalMs);
    this.#timer.unref();
  }

  /** Runs `fn` with `callers` (e.g. `user:7`, `client:abc`) as the ones whose writes it reads. */
  runAs<T>(callers: readonly string[], fn: () => T): T {
    return this.#context.run({ callers }, fn);
  }

  get stats(): ReplicaRouterStats {
    return {
      replicaReads: this.#replicaReads,
      primaryReads: this.#primaryReads,
      fallbacks: this.#fallbacks,
      replicaFills: this.#replicaFills,
      primaryFills: this.#primaryFills,
      pendingCallers: this.#pending.size,
      replicaAvailable: this.#available,
      replayLsn: this.#replayLsn,
    };
  }

  /**
   * Reads the replica's replay position now (the timer does it every `pollIntervalMs`), then
   * forgets callers whose writes it has replayed. Never rejects; never runs twice at once.
   */
  async poll(): Promise<void> {
    if (this.#polling || this.#closed) return;
    this.#polling = true;
    try {
      const { rows } = await this.#withinTimeout(
        this.#replica.query<{ lsn: string | null }>('SELECT pg_last_wal_replay_lsn()::text AS lsn'),
      );
      const text = rows[0]?.lsn;
      // NULL: not a standby (or not replaying); nothing it serves can be trusted as replayed.
      this.#replayLsn = text === null || text === undefined ? null : parseLsn(text);
      this.#available = this.#replayLsn !== null;
    } catch {
      this.#available = false;
    } finally {
      this.#polling = false;
    }
    const now = this.#clock.now();
    for (const [caller, p] of this.#pending) {
      if (p.lsn === null ? now - p.at >= this.#fallbackWindowMs : this.#replayed(p.lsn)) {
        this.#pending.delete(caller);
      }
    }
    for (const [caller, w] of this.#lastWrites) {
      if (now - w.at >= this.#positionTtlMs) this.#lastWrites.delete(caller);
    }
  }

  /**
   * Runs a cache fill on the replica when that cannot cache a state older than the write that
   * invalidated it: `load`'s read-only statements on {@link ReplicaRouter.writer} go to the
   * replica, and its value is kept only if the replica had already replayed, when the fill
   * began, the last write of every caller `ownersOf(value)` names (e.g. `user:7` for user 7's
   * payment) and the last write made with no caller (a background job). Otherwise (or when
   * `ownersOf` answers null: the replica did not have the row) `load` runs again on the
   * primary. The owners' positions come from this process and from `positions`, so a write
   * through another instance counts too. A write that lands while the fill runs is the cache's
   * to handle, as for a fill on the primary: its invalidation drops the fill's result.
   *
   * Every write to what `load` reads must run as one of the owners (or with no caller).
   * @example
   * cache.getOrSet(`payment:${id}`, () =>
   *   router.fill(() => repository.findById(id), (p) => (p ? [`user:${p.user_id}`] : null)));
   */
  async fill<T>(
    load: () => Promise<T>,
    ownersOf: (value: T) => readonly string[] | null,
  ): Promise<T> {
    const callers = this.#context.getStore()?.callers ?? [];
    // The replica's state when the fill starts: what it serves during the fill is at least this.
    const replayed = this.#available && !this.#closed ? this.#replayLsn : null;
    // A fill asked by a caller whose own write the replica lacks is most likely of that
    // caller's data: the primary at once spares a replica read that would be thrown away.
    if (replayed !== null && this.#locallyReplayed(callers, replayed)) {
      const value = await this.#context.run({ callers, fill: true }, load);
      const owners = ownersOf(value);
      if (owners !== null && (await this.#replayedWritesOf(owners, replayed))) {
        this.#replicaFills++;
        return value;
      }
    }
    this.#primaryFills++;
    return this.#context.run({ callers }, load);
  }

  /** Stops polling. The databases stay open: their owner closes them. */
  close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    return Promise.resolve();
  }

  /** True when this process knows no write of `callers` past `replayed` (no shared store asked). */
  #locallyReplayed(callers: readonly string[], replayed: bigint): boolean {
    const now = this.#clock.now();
    for (const caller of callers) {
      const w = this.#lastWrites.get(caller);
      if (w === undefined) continue;
      if (w.lsn === null ? now - w.at < this.#fallbackWindowMs : w.lsn > replayed) return false;
    }
    return true;
  }

  /** True when every last write of `owners`, and of no caller, is at or before `replayed`. */
  async #replayedWritesOf(owners: readonly string[], replayed: bigint): Promise<boolean> {
    const names = [...owners, ANY_CALLER];
    const now = this.#clock.now();
    for (const name of names) {
      const w = this.#lastWrites.get(name);
      if (w === undefined) continue;
      if (w.lsn === null ? now - w.at < this.#fallbackWindowMs : w.lsn > replayed) return false;
    }
    if (this.#positions === undefined) return true;
    try {
      const lsn = await this.#positions.get(names);
      return lsn === null || lsn <= replayed;
    } catch {
      return false;
    }
  }

  /** A read-only statement of a fill: the replica, or the primary when it fails or is slow. */
  async #fillRead<Row>(text: string, params?: readonly unknown[]): Promise<QueryResult<Row>> {
    try {
      const result = await this.#withinTimeout(this.#replica.query<Row>(text, params));
      this.#replicaReads++;
      return result;
    } catch (error) {
      if (!(error instanceof TimeoutError) && isQueryRejected(error)) throw error;
      this.#available = false;
      this.#fallbacks++;
      return this.#primary.query<Row>(text, params);
    }
  }

  #replayed(lsn: bigint): boolean {
    return this.#replayLsn !== null && this.#replayLsn >= lsn;
  }

  /** True when the current callers may read from the replica. */
  #replicaServes(): boolean {
    if (!this.#available) return false;
    const callers = this.#context.getStore()?.callers;
    if (callers === undefined) return true;
    const now = this.#clock.now();
    for (const caller of callers) {
      const p = this.#pending.get(caller);
      if (p === undefined) continue;
      if (p.lsn === null ? now - p.at < this.#fallbackWindowMs : !this.#replayed(p.lsn)) {
        return false;
      }
    }
    return true;
  }

  /** True when no other process recorded a write of the current callers the replica lacks. */
  async #sharedAllows(): Promise<boolean> {
    const callers = this.#context.getStore()?.callers;
    if (this.#positions === undefined || callers === undefined || callers.length === 0) {
      return true;
    }
    try {
      const lsn = await this.#positions.get(callers);
      return lsn === null || this.#replayed(lsn);
    } catch {
      return false;
    }
  }

  async #read<Row>(text: string, params?: readonly unknown[]): Promise<QueryResult<Row>> {
    if (
      !this.#replicaServes() ||
      (this.#positions !== undefined && !(await this.#sharedAllows()))
    ) {
      this.#primaryReads++;
      return this.#primary.query<Row>(text, params);
    }
    try {
      const result = await this.#withinTimeout(this.#replica.query<Row>(text, params));
      this.#replicaReads++;
      return result;
    } catch (error) {
      // A query the replica rejected for what it is (bad SQL) fails the same on the primary;
      // only a slow or unreachable replica is a reason to go there.
      if (!(error instanceof TimeoutError) && isQueryRejected(error)) throw error;
      this.#available = false;
      this.#fallbacks++;
      this.#primaryReads++;
      return this.#primary.query<Row>(text, params);
    }
  }

  #withinTimeout<T>(work: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new TimeoutError(`replica slower than ${this.#replicaTimeoutMs} ms`)),
        this.#replicaTimeoutMs,
      );
    });
    // The abandoned query may still fail later: that must not be an unhandled rejection.
    work.catch(() => {});
    return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
  }

  /**
   * Remembers the primary's WAL position after a write for the callers of this context (for
   * their reads and for fills), or as a write of no caller (for fills).
   */
  async #noteWrite(): Promise<void> {
    const own = this.#context.getStore()?.callers ?? [];
    const callers = own.length === 0 ? [ANY_CALLER] : own;
    let lsn: bigint | null = null;
    try {
      // The insert position, not pg_current_wal_lsn() (the write position): with
      // synchronous_commit off, a commit's record may still sit in the WAL buffers, before the
      // write position, and a replica at that position would not show the commit yet.
      const { rows } = await this.#primary.query<{ lsn: string }>(
        'SELECT pg_current_wal_insert_lsn()::text AS lsn',
      );
      lsn = parseLsn(rows[0]!.lsn);
    } catch {
      // Unknown position: the fallback window applies.
    }
    const at = this.#clock.now();
    for (const caller of callers) {
      for (const positions of own.length === 0
        ? [this.#lastWrites]
        : [this.#pending, this.#lastWrites]) {
        const before = positions.get(caller);
        const keep =
          before?.lsn !== undefined && before.lsn !== null && lsn !== null && before.lsn > lsn;
        positions.set(caller, keep ? { lsn: before.lsn, at } : { lsn, at });
      }
    }
    // Shared before the write is acknowledged, so the caller's next read, on any process,
    // knows it. A store that fails leaves the other processes unaware: logged by the store.
    if (lsn !== null && this.#positions !== undefined) {
      await this.#positions.set(callers, lsn, this.#positionTtlMs).catch(() => {});
    }
  }

  #makeWriter(): Database {
    const primary = this.#primary;
    const noteWrite = (): Promise<void> => this.#noteWrite();
    const context = this.#context;
    const fillRead = <Row>(text: string, params?: readonly unknown[]) =>
      this.#fillRead<Row>(text, params);
    return {
      get kind() {
        return primary.kind;
      },
      async query<Row>(text: string, params?: readonly unknown[]): Promise<QueryResult<Row>> {
        if (context.getStore()?.fill === true && isReadOnly(text))
          return fillRead<Row>(text, params);
        const result = await primary.query<Row>(text, params);
        if (!isReadOnly(text)) await noteWrite();
        return result;
      },
      async transaction<T>(fn: (tx: QueryExecutor) => Promise<T>): Promise<T> {
        const value = await primary.transaction(fn);
        await noteWrite();
        return value;
      },
      ping: (timeoutMs?: number) => primary.ping(timeoutMs),
      close: () => primary.close(),
    };
  }
}

/**
 * The replica answered with an SQL error the primary would give too (bad SQL, a constraint),
 * as opposed to not answering or failing as a replica: connection errors (08), operator
 * intervention such as a shutdown (57), resources (53), system errors (58) and conflicts with
 * recovery (40001, which only a standby raises) send the read to the primary instead.
 */
function isQueryRejected(error: unknown): boolean {
  // pg wraps socket errors with Node's code (ECONNREFUSED): only a 5-character SQLSTATE is
  // the server's answer.
  const state = error instanceof QueryError ? error.sqlState : undefined;
  return state !== undefined && /^[0-9A-Z]{5}$/.test(state) && !/^(08|57|53|58|40)/.test(state);
}
