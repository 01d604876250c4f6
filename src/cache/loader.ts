import { randomBytes } from 'node:crypto';
import { AbortedError, ClosedError } from '../errors/index.js';
import type { Core } from './core.js';
import { CacheLoaderError, CacheSerializeError, CacheTimeoutError } from './errors.js';
import { formatMessage } from './invalidation-bus.js';
import type { L1Entry } from './memory-tier.js';
import type { Factory, ResolvedOptions } from './options.js';

/** What a load produced. */
interface Outcome {
  value: unknown;
  stale: boolean;
}

/** One load of one key in this process; every concurrent caller of that key shares it. */
export interface Flight {
  /** Settles with the value every caller gets. */
  promise: Promise<unknown>;
  /** Set when that value is a stale one. */
  stale: boolean;
  /** Callers sharing this flight (for the stale-served count). */
  callers: number;
  /** Set when the key was written or deleted while loading: the result is not cached. */
  invalidated: boolean;
  /** A value to fall back on (stale, or fresh but due for refresh) once known. */
  fallback: Outcome | undefined;
  version: number;
  /**
   * The version of the L2 record this load last read ('0': none), undefined until a read
   * answered. Its result is written to L2 only if that record is still there.
   */
  basis: string | undefined;
  tags: readonly string[] | undefined;
  /** Made when the factory is called: aborted on hardTimeoutMs or close(). */
  controller: AbortController | undefined;
  /** A factory still running after the callers were answered with a stale value. */
  background: Promise<unknown> | undefined;
}

type L2Read =
  | { kind: 'fresh'; value: unknown }
  | { kind: 'refresh'; value: unknown }
  | { kind: 'stale'; value: unknown }
  | { kind: 'none' }
  | { kind: 'down' };

const MAX_WAIT_ROUNDS = 4;
const NONE: L2Read = { kind: 'none' };
const DOWN: L2Read = { kind: 'down' };

/**
 * The miss path of `getOrSet`: in-process single-flight (one Flight per key), then L2, then
 * across instances a Redis lease (owner token, `leaseMs` TTL) so that one instance calls the
 * factory while the others wait for its pub/sub message or serve stale, then the factory
 * with its timeouts and stale fallbacks.
 */
export class Loader {
  readonly #core: Core;
  readonly #flights = new Map<string, Flight>();
  readonly #closed: AbortSignal;
  /** Controllers of the factories running now. */
  readonly #running = new Set<AbortController>();
  /** Wakers of the loads waiting for another instance's lease. */
  readonly #waiting = new Set<() => void>();

  constructor(core: Core, closed: AbortSignal) {
    this.#core = core;
    this.#closed = closed;
  }

  /** Whether a load of `key` is running. */
  has(key: string): boolean {
    return this.#flights.has(key);
  }

  /** The running load of `key`, if any. */
  current(key: string): Flight | undefined {
    return this.#flights.get(key);
  }

  /**
   * Joins the running load of `key` or starts one. `waiting` is false for a background
   * refresh whose caller was already answered (it is not counted as served). `prefetched`
   * is an L2 read the caller already made (its first L2 read is skipped).
   */
  load(
    key: string,
    factory: Factory<unknown>,
    o: ResolvedOptions,
    l1Stale: L1Entry | undefined,
    waiting = true,
    prefetched?: string | null,
  ): Flight {
    const running = this.#flights.get(key);
    if (running !== undefined) {
      if (!waiting) return running;
      this.#core.counters.coalesced++;
      running.callers++;
      // Joined during a background refresh: the answer already given was stale.
      if (running.stale) this.#core.counters.staleServed++;
      return running;
    }
    const flight: Flight = {
      promise: undefined as unknown as Promise<unknown>,
      stale: false,
      callers: waiting ? 1 : 0,
      invalidated: false,
      fallback: l1Stale === undefined ? undefined : { value: l1Stale.value, stale: true },
      version: this.#core.nextVersion(),
      basis: undefined,
      tags: o.tags,
      controller: undefined,
      background: undefined,
    };
    this.#flights.set(key, flight);
    flight.promise = this.#run(key, factory, o, flight, prefetched);
    return flight;
  }

  /** A write or delete of `key` happened here: the running load must not cache its result. */
  invalidate(key: string): void {
    const flight = this.#flights.get(key);
    if (flight === undefined) return;
    flight.invalidated = true;
    this.#flights.delete(key);
  }

  invalidateTag(tag: string): void {
    for (const [key, flight] of this.#flights)
      if (flight.tags?.includes(tag) === true) this.invalidate(key);
  }

  invalidateAll(): void {
    for (const key of [...this.#flights.keys()]) this.invalidate(key);
  }

  /** Aborts every running factory (close()). */
  abortAll(reason: unknown): void {
    for (const controller of [...this.#running]) controller.abort(reason);
    for (const wake of [...this.#waiting]) wake();
  }

  /** Waits for every running load to settle. */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.#flights.values()].map((f) => f.promise));
  }

  /**
   * Awaits a flight for one caller: serves its stale fallback after `softTimeoutMs`, and
   * rejects with AbortedError when the caller's signal aborts (the load goes on for others).
   */
  wait(
    flight: Flight,
    o: ResolvedOptions,
    l1Stale: L1Entry | undefined,
    signal: AbortSignal | undefined,
  ): Promise<unknown> {
    const counters = this.#core.counters;
    if (o.softTimeoutMs === 0 && signal === undefined) return flight.promise;
    if (signal?.aborted === true)
      return Promise.reject(new AbortedError(undefined, { cause: signal.reason }));
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const finish = (): void => {
        if (timer !== undefined) clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      };
      const onAbort = (): void => {
        finish();
        reject(new AbortedError(undefined, { cause: signal?.reason }));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      if (o.softTimeoutMs > 0) {
        timer = setTimeout(() => {
          timer = undefined;
          const fallback =
            flight.fallback ??
            (l1Stale === undefined ? undefined : { value: l1Stale.value, stale: true });
          if (fallback === undefined) return;
          finish();
          if (fallback.stale) counters.staleServed++;
          resolve(fallback.value);
        }, o.softTimeoutMs);
      }
      flight.promise.then(
        (value) => {
          finish();
          resolve(value);
        },
        (error: unknown) => {
          finish();
          reject(error);
        },
      );
    });
  }

  async #run(
    key: string,
    factory: Factory<unknown>,
    o: ResolvedOptions,
    flight: Flight,
    prefetched: string | null | undefined,
  ): Promise<unknown> {
    try {
      const outcome = await this.#steps(key, factory, o, flight, prefetched);
      if (outcome.stale) {
        flight.stale = true;
        this.#core.counters.staleServed += flight.callers;
      }
      return outcome.value;
    } finally {
      // The flight stays joinable until a background compute (stale answered first) is done.
      const remove = (): void => {
        if (this.#flights.get(key) === flight) this.#flights.delete(key);
      };
      if (flight.background === undefined) remove();
      else void flight.background.then(remove, remove);
    }
  }

  async #steps(
    key: string,
    factory: Factory<unknown>,
    o: ResolvedOptions,
    flight: Flight,
    prefetched: string | null | undefined,
  ): Promise<Outcome> {
    const core = this.#core;
    const l2 = core.l2;
    let owner: string | undefined;
    if (l2 !== undefined) {
      for (let round = 0; round < MAX_WAIT_ROUNDS; round++) {
        const found =
          round === 0 && prefetched !== undefined
            ? this.#classify(key, o, flight, prefetched)
            : await this.#readL2(key, o, flight);
        if (found.kind === 'fresh') return { value: found.value, stale: false };
        if (found.kind === 'down') break;
        if (found.kind !== 'none')
          flight.fallback = { value: found.value, stale: found.kind === 'stale' };
        const token = randomBytes(9).toString('base64url');
        const taken = await l2.acquire(key, token, core.leaseMs);
        if (taken === undefined) break;
        if (taken) {
          owner = token;
          break;
        }
        // Another instance is computing: serve what we have, or wait for its message.
        core.counters.remoteWaits++;
        if (flight.fallback !== undefined) return flight.fallback;
        const bus = core.bus;
        if (bus === undefined || !bus.ready) break;
        const waiter = bus.waitFor(key);
        // Registered before this read, so a write landing in between still wakes us.
        const again = await this.#readL2(key, o, flight);
        if (again.kind === 'fresh') {
          waiter.cancel();
          return { value: again.value, stale: false };
        }
        await this.#waitAtMost(waiter.promise, core.leaseMs);
        waiter.cancel();
        if (this.#closed.aborted) throw new ClosedError('cache');
      }
    }
    if (flight.fallback?.stale === true && o.softTimeoutMs === 0) {
      // Stale-while-revalidate from L2: answer with the stale value, refresh behind it.
      const computing = this.#compute(key, factory, o, flight, owner);
      flight.background = computing;
      computing.catch(() => undefined);
      return flight.fallback;
    }
    return this.#compute(key, factory, o, flight, owner);
  }

  async #readL2(key: string, o: ResolvedOptions, flight: Flight): Promise<L2Read> {
    return this.#classify(key, o, flight, await this.#core.l2!.get(key));
  }

  #classify(
    key: string,
    o: ResolvedOptions,
    flight: Flight,
    text: string | null | undefined,
  ): L2Read {
    const core = this.#core;
    if (text === undefined) return DOWN;
    flight.basis = text === null ? '0' : versionOf(text);
    const record = core.readRecord(text);
    if (record === undefined) {
      core.counters.l2Misses++;
      return NONE;
    }
    const { env, value } = record;
    const now = core.clock.now();
    if (now < env.freshUntil) {
      core.counters.l2Hits++;
      const due =
        o.refreshAhead > 0 && !env.negative && now >= env.freshUntil - o.refreshAhead * o.ttlMs;
      if (!flight.invalidated) core.promote(key, env, value, o, o.l1TtlMs, !due);
      return due ? { kind: 'refresh', value } : { kind: 'fresh', value };
    }
    core.counters.l2Stale++;
    return { kind: 'stale', value };
  }

  #waitAtMost(promise: Promise<boolean>, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.#waiting.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#waiting.add(done);
      void promise.then(done);
    });
  }

  async #compute(
    key: string,
    factory: Factory<unknown>,
    o: ResolvedOptions,
    flight: Flight,
    owner: string | undefined,
  ): Promise<Outcome> {
    const core = this.#core;
    const counters = core.counters;
    const l2 = core.l2;
    const release = (announce: boolean): void => {
      if (l2 === undefined || owner === undefined) return;
      const message = announce ? formatMessage('r', core.origin, 0, key) : '';
      core.track(l2.release(key, owner, message));
    };
    if (this.#closed.aborted) {
      release(true);
      throw new ClosedError('cache');
    }
    counters.factoryCalls++;
    const controller = (flight.controller ??= new AbortController());
    const signal = controller.signal;
    const started = performance.now();
    let timer: NodeJS.Timeout | undefined;
    if (o.hardTimeoutMs > 0) {
      timer = setTimeout(
        () => controller.abort(new CacheTimeoutError(key, o.hardTimeoutMs)),
        o.hardTimeoutMs,
      );
    }
    // close() aborts every running factory through this set (one listener on the close
    // signal per factory would trip Node's MaxListeners warning under load).
    this.#running.add(controller);
    let value: unknown;
    try {
      const fallback = flight.fallback;
      const result = Promise.resolve().then(() =>
        factory({ key, signal, staleValue: fallback?.value, hasStale: fallback !== undefined }),
      );
      value = await raceAbort(result, signal);
    } catch (error) {
      if (error instanceof CacheTimeoutError) counters.factoryTimeouts++;
      else counters.factoryErrors++;
      release(true);
      if (flight.fallback !== undefined) return flight.fallback;
      if (error instanceof CacheTimeoutError || error instanceof ClosedError) throw error;
      throw new CacheLoaderError(key, { cause: error });
    } finally {
      if (timer !== undefined) clearTimeout(timer);
      this.#running.delete(controller);
      core.factoryLatency.record(performance.now() - started);
    }
    if (value === undefined && o.negativeTtlMs === 0) {
      release(true);
      return { value, stale: false };
    }
    let prepared;
    try {
      prepared = core.prepare(key, value, o, flight.version);
    } catch (error) {
      release(true);
      if (error instanceof CacheSerializeError) throw error;
      throw new CacheLoaderError(key, { cause: error });
    }
    const current = !flight.invalidated && !core.isSuperseded(key, flight.version);
    if (current) core.installL1(key, prepared.entry);
    if (l2 !== undefined && prepared.write !== undefined && current && flight.basis !== undefined) {
      const write = prepared.write;
      write.basis = flight.basis;
      // The lease, if held, is released by the same round trip (FILL_SCRIPT).
      core.track(owner === undefined ? l2.write(write) : l2.fill(write, owner));
    } else {
      release(true);
    }
    return { value, stale: false };
  }
}

function raceAbort<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

/** The version digits at the head of an L2 record ('0' when it has none: not a record). */
function versionOf(text: string): string {
  const bar = text.indexOf('|');
  if (bar <= 0 || bar > 20) return '0';
  const head = text.slice(0, bar);
  return /^\d+$/.test(head) ? String(Number(head)) : '0';
}
