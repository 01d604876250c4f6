import type { LatencyRecorder } from './latency.js';

/**
 * One queued L2 read. `settle` is called once, synchronously from the batch's reply, with
 * the record (a string), null when absent, or undefined when L2 failed. A read is an object
 * with a method rather than a promise so that the L2-hit path (read-through.ts) makes one
 * promise per request, not two (bench/cache/l2-hit.bench.ts).
 */
export interface L2Read {
  readonly key: string;
  settle(text: string | null | undefined): void;
}

/** The commands the reads use, as ioredis has them. */
export interface ReadClient {
  get(key: string): Promise<string | null>;
  mget(keys: string[]): Promise<(string | null)[]>;
}

/** What {@link L2Reads} needs from its tier. */
export interface L2ReadsOptions {
  client: ReadClient;
  /** Prepended to every key. */
  prefix: string;
  /** Most keys per MGET. */
  batchSize: number;
  /** A batch not answered within this many milliseconds fails. */
  timeoutMs: number;
  /** False while the tier is down: queued reads then settle with undefined unsent. */
  usable(): boolean;
  /** Marks the tier down after an error or a timeout. */
  fail(error: unknown): void;
  /** Records each batch's round trip. */
  latency: LatencyRecorder;
}

/** One MGET sent and not settled yet. */
class Batch {
  readonly reads: L2Read[];
  readonly started: number;
  settled = false;

  constructor(reads: L2Read[], started: number) {
    this.reads = reads;
    this.started = started;
  }
}

/**
 * The L2 tier's reads: those queued in one event-loop turn are sent at its end as pipelined
 * MGETs of at most `batchSize` keys. Every batch is bounded by `timeoutMs` through one
 * watchdog timer for all the batches in flight (they are answered in the order they were
 * sent), not a timer and an extra promise per batch.
 */
export class L2Reads {
  readonly #o: L2ReadsOptions;
  #queued: L2Read[] = [];
  /** The first queued read of each key that lets others share it (see {@link L2Reads.get}). */
  readonly #shared = new Map<string, SharedRead>();
  #flushScheduled = false;
  /** Batches sent and not settled, oldest first. */
  readonly #inFlight: Batch[] = [];
  #watchdog: NodeJS.Timeout | undefined;

  constructor(options: L2ReadsOptions) {
    this.#o = options;
  }

  /** The record of `key` (see {@link L2Read.settle}); reads of one key in one turn share it. */
  get(key: string): Promise<string | null | undefined> {
    const shared = this.#shared.get(key);
    if (shared !== undefined) return shared.promise;
    const read = new SharedRead(key);
    this.#shared.set(key, read);
    this.enqueue(read);
    return read.promise;
  }

  /** Queues a read for the batch sent at the end of this turn. `read.settle` must not throw. */
  enqueue(read: L2Read): void {
    this.#queued.push(read);
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(this.#flush);
    }
  }

  readonly #flush = (): void => {
    this.#flushScheduled = false;
    const queued = this.#queued;
    if (queued.length === 0) return;
    this.#queued = [];
    if (this.#shared.size > 0) this.#shared.clear();
    if (!this.#o.usable()) {
      for (const read of queued) read.settle(undefined);
      return;
    }
    // Several smaller MGETs in one pipeline, rather than one big one: Redis answers the
    // first while this process parses the previous reply (bench/cache/l2-hit.bench.ts). The
    // reads are split evenly, so that no MGET carries only a few left-over keys.
    const n = queued.length;
    if (n <= this.#o.batchSize) {
      this.#send(queued);
      return;
    }
    const size = Math.ceil(n / Math.ceil(n / this.#o.batchSize));
    for (let start = 0; start < n; start += size) this.#send(queued.slice(start, start + size));
  };

  #send(reads: L2Read[]): void {
    const o = this.#o;
    const batch = new Batch(reads, performance.now());
    const keys = new Array<string>(reads.length);
    for (let i = 0; i < reads.length; i++) keys[i] = o.prefix + reads[i]!.key;
    const reply = keys.length === 1 ? o.client.get(keys[0]!).then((v) => [v]) : o.client.mget(keys);
    this.#inFlight.push(batch);
    if (this.#watchdog === undefined)
      this.#watchdog = setTimeout(this.#expire, o.timeoutMs).unref();
    reply.then(
      (values) => {
        if (batch.settled) return;
        this.#done(batch);
        o.latency.record(performance.now() - batch.started);
        for (let i = 0; i < reads.length; i++) reads[i]!.settle(values[i] ?? null);
      },
      (error: unknown) => {
        if (batch.settled) return;
        this.#done(batch);
        o.fail(error);
        for (const read of reads) read.settle(undefined);
      },
    );
  }

  #done(batch: Batch): void {
    batch.settled = true;
    const inFlight = this.#inFlight;
    if (inFlight[0] === batch) inFlight.shift();
    else inFlight.splice(inFlight.indexOf(batch), 1);
  }

  /** Fails the batches older than `timeoutMs`, and waits for the next oldest. */
  readonly #expire = (): void => {
    this.#watchdog = undefined;
    const timeoutMs = this.#o.timeoutMs;
    const inFlight = this.#inFlight;
    const now = performance.now();
    while (inFlight.length > 0 && now - inFlight[0]!.started >= timeoutMs) {
      const batch = inFlight.shift()!;
      batch.settled = true;
      this.#o.fail(new Error(`L2 did not answer within ${timeoutMs} ms`));
      for (const read of batch.reads) read.settle(undefined);
    }
    if (inFlight.length > 0) {
      const wait = inFlight[0]!.started + timeoutMs - now;
      this.#watchdog = setTimeout(this.#expire, Math.max(1, wait)).unref();
    }
  };
}

/** The read behind {@link L2Reads.get}, which later reads of its key in the turn share. */
class SharedRead implements L2Read {
  readonly key: string;
  readonly promise: Promise<string | null | undefined>;
  settle!: (text: string | null | undefined) => void;

  constructor(key: string) {
    this.key = key;
    this.promise = new Promise((resolve) => (this.settle = resolve));
  }
}
