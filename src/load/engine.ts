/**
 * One thread's load test: connections, the open- or closed-model schedule, timeouts, warm-up
 * and the end of the run. {@link load} runs one engine, or one per worker thread.
 *
 * Open model: request k has an intended send time fixed by the arrival rate alone. A timer
 * (never a busy loop) wakes at the next intended time and sends every request that is due. A
 * request that finds every connection busy waits in a queue and keeps its intended time, so
 * its latency includes the wait: a stalled server shows up in the percentiles instead of
 * silently slowing the generator down (coordinated omission).
 *
 * Closed model: each connection sends its next request when a response arrives (with
 * `pipelining` requests in flight each).
 */
import { performance } from 'node:perf_hooks';
import { Connection, type ConnectionOwner, type FailureKind, type Target } from './connection.js';
import { type ResolvedOptions, rateAt, Schedule } from './options.js';
import { createMixSource, requestName, seededRandom, type RequestSource } from './request-mix.js';
import { compileCheck, type CompiledCheck } from './checks.js';
import type { LoadResult } from './result.js';
import { coordinatedOmission } from './health.js';
import { latencyHistogram, type SecondSample, Stats, summarize } from './stats.js';
import { TimeQueue } from './time-queue.js';

/** Sends later than this after their intended time count as late (the generator fell behind). */
const LATE_MS = 5;
/**
 * Node's timers have 1 ms resolution and fire late, never early: a request due within this
 * window goes out on the current tick, up to this much before its intended time, so the
 * schedule is centred on the intended times instead of trailing them by about a millisecond.
 * Its latency then counts from the actual send (never from a time before it).
 */
const EARLY_MS = 1;

/** Hooks a caller (the public API or a worker) plugs into an engine. */
export interface EngineHooks {
  /**
   * Called at the end of every measured second, and once more for the last partial second.
   * `completed` and `errors` are the run's totals so far.
   */
  onSecond?: (sample: SecondSample, completed: number, errors: number) => void;
  /** Called once per request sent, when it is answered or fails; bodies are then captured. */
  onResponse?: (response: LoadResponse) => void;
}

/**
 * What became of one request sent, for callers that must know each one (which payment was
 * acknowledged), not only the counts.
 */
export interface LoadResponse {
  /** The request's bytes as written (head and body). */
  request: Buffer;
  /** The HTTP status; 0 when no answer came. */
  status: number;
  /** The response body (chunked framing removed); empty when no answer came. */
  body: Buffer;
  /** Why no answer came (`connect`, `timeout`, `reset`); null when answered. */
  failure: FailureKind | null;
  /** The request's name (its mix entry's `name`, or `METHOD path`); always set by the engine. */
  name?: string;
  /**
   * Latency from the intended send time in whole microseconds, as recorded in the histograms;
   * 0 when no answer came. Always set by the engine.
   */
  latencyUs?: number;
}

const NO_BODY = Buffer.alloc(0);

/** Runs one load test on this thread. */
export class Engine implements ConnectionOwner {
  readonly #o: ResolvedOptions;
  readonly #target: Target;
  readonly #source: RequestSource;
  readonly #hooks: EngineHooks;
  readonly #stats: Stats;
  /** Per request-mix entry: its name's slot in the stats, and its compiled check. */
  readonly #slotOf: number[];
  readonly #names: string[];
  readonly #checks: (CompiledCheck | null)[];
  readonly #lag = latencyHistogram();
  readonly #conns = new Set<Connection>();
  readonly #idle: Connection[] = [];
  readonly #pending = new TimeQueue();
  #isRunning = false;
  #isMeasuring = false;
  #isInterrupted = false;
  #t0 = 0;
  #measureStart = 0;
  #measureEnd = 0;
  #next = 0;
  /** Open model: index of the next scheduled request. */
  #k = 0;
  #schedule: Schedule | null = null;
  #sent = 0;
  #dispatched = 0;
  #measuredSent = 0;
  #bytesWritten = 0;
  #lateSends = 0;
  #waited = 0;
  #second = 0;
  #tick: NodeJS.Timeout | null = null;
  #timers: NodeJS.Timeout[] = [];
  #elu0 = performance.eventLoopUtilization();
  #cpu0 = process.cpuUsage();
  #done: (() => void) | null = null;
  #isStopping = false;
  #unsent = 0;
  #draining: (() => void) | null = null;

  constructor(options: ResolvedOptions, hooks: EngineHooks = {}) {
    this.#o = options;
    this.#hooks = hooks;
    const u = options.url;
    const entries = options.mix?.requests ?? [
      { method: options.method, path: `${u.pathname}${u.search}` },
    ];
    const names: string[] = [];
    this.#slotOf = entries.map((e) => {
      const name = requestName(e);
      const i = names.indexOf(name);
      return i >= 0 ? i : names.push(name) - 1;
    });
    this.#checks = entries.map((e, i) =>
      'check' in e ? compileCheck(e.check, `requests[${i}].check`) : null,
    );
    this.#names = names;
    this.#stats = new Stats(options.model, names);
    const isTls = u.protocol === 'https:';
    const port = u.port === '' ? (isTls ? 443 : 80) : Number(u.port);
    const host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
    this.#target = { host, port, isTls, rejectUnauthorized: options.rejectUnauthorized };
    const random = options.seed === null ? Math.random : seededRandom(options.seed);
    if (options.mix === null && options.body !== null) {
      // A body given as such is sent byte for byte: placeholders only apply in a mix.
      let head = `${options.method} ${u.pathname}${u.search} HTTP/1.1\r\nhost: ${u.host}\r\n`;
      for (const [k, v] of Object.entries(options.headers)) head += `${k}: ${v}\r\n`;
      const body = Buffer.from(options.body, 'utf8');
      const bytes = Buffer.concat([
        Buffer.from(`${head}content-length: ${body.length}\r\n\r\n`, 'latin1'),
        body,
      ]);
      this.#source = { next: () => ({ bytes, isHead: false }) };
    } else {
      const mix = options.mix ?? {
        requests: [{ method: options.method, path: `${u.pathname}${u.search}` }],
      };
      this.#source = createMixSource(mix, { host: u.host, headers: options.headers, random });
    }
  }

  /** Runs until the duration or request count is reached, or `signal` aborts. */
  run(signal?: AbortSignal): Promise<LoadResult> {
    return new Promise((resolve) => {
      this.#done = () => resolve(this.#output());
      if (signal?.aborted) {
        this.#isInterrupted = true;
        this.#done();
        return;
      }
      let startTimer: NodeJS.Timeout | null = null;
      const onAbort = () => {
        this.#isInterrupted = true;
        if (startTimer !== null) {
          // Stopped while waiting for the start time: nothing was sent.
          clearTimeout(startTimer);
          startTimer = null;
          this.#done?.();
          this.#done = null;
          return;
        }
        void this.#stop(false);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      const startAt = this.#o.startAt;
      const startWhenDue = () => {
        // Timers may fire a millisecond early against the wall clock: wait again if so.
        const waitMs = startAt === null ? 0 : startAt - Date.now();
        if (waitMs > 0) startTimer = setTimeout(startWhenDue, Math.ceil(waitMs));
        else {
          startTimer = null;
          this.#start();
        }
      };
      startWhenDue();
    });
  }

  #start(): void {
    const o = this.#o;
    this.#isRunning = true;
    this.#t0 = performance.now();
    if (o.model === 'open') {
      this.#schedule = new Schedule(o);
      this.#next = this.#t0 + this.#schedule.at(0);
    }
    if (o.warmupMs > 0) this.#timers.push(setTimeout(() => this.#beginMeasuring(), o.warmupMs));
    else this.#beginMeasuring();
    if (Number.isFinite(o.durationMs)) {
      this.#timers.push(setTimeout(() => void this.#stop(true), o.warmupMs + o.durationMs));
    }
    const sweepMs = Math.max(5, Math.min(250, o.timeoutMs / 4));
    this.#timers.push(setInterval(() => this.#sweepTimeouts(), sweepMs));
    if (o.model === 'closed') {
      for (let i = 0; i < o.connections; i++) this.#openClosed();
    } else this.#onTick();
  }

  #beginMeasuring(): void {
    this.#stats.reset();
    this.#lag.reset();
    this.#lateSends = 0;
    this.#waited = 0;
    this.#measuredSent = 0;
    this.#bytesWritten = 0;
    for (const c of this.#conns) c.bytesWritten = 0;
    this.#isMeasuring = true;
    this.#measureStart = performance.now();
    this.#elu0 = performance.eventLoopUtilization();
    this.#cpu0 = process.cpuUsage();
    this.#timers.push(setInterval(() => this.#endSecond(), 1000));
  }

  #endSecond(): void {
    const o = this.#o;
    const target = o.model === 'open' ? rateAt(o, performance.now() - this.#t0) : null;
    const sample = this.#stats.takeSecond(this.#second++, target);
    if (o.model === 'closed' && this.#stats.intended.count > 0) {
      this.#stats.expectedIntervalUs = this.#stats.intended.percentile(50);
    }
    const e = this.#stats.errors;
    this.#hooks.onSecond?.(sample, this.#stats.completed, e.connect + e.timeout + e.reset);
  }

  // ---- open model -------------------------------------------------------------------------

  #onTick(): void {
    this.#tick = null;
    if (!this.#isRunning) return;
    const o = this.#o;
    const now = performance.now();
    while (this.#next <= now + EARLY_MS && this.#isRunning) {
      if (this.#dispatched >= o.requests) {
        void this.#stop(true);
        return;
      }
      this.#dispatch(this.#next, now);
      this.#next = this.#t0 + this.#schedule!.at(++this.#k);
    }
    // A schedule that has ended (a ramp down to 0) waits for the duration timer.
    if (this.#isRunning && Number.isFinite(this.#next)) {
      const wait = this.#next - EARLY_MS - performance.now();
      this.#tick = setTimeout(() => this.#onTick(), Math.max(0, Math.floor(wait)));
    }
  }

  #dispatch(intended: number, now: number): void {
    this.#dispatched++;
    let conn = this.#idle.pop();
    while (conn !== undefined && conn.isClosed) conn = this.#idle.pop();
    if (conn === undefined && this.#conns.size < this.#o.connections) conn = this.#openConnection();
    if (conn === undefined) {
      this.#pending.push(intended);
      if (this.#isMeasuring) this.#waited++;
      return;
    }
    const lag = now - intended;
    if (this.#isMeasuring) {
      this.#lag.record(Math.max(0, lag) * 1000);
      if (lag > LATE_MS) this.#lateSends++;
    }
    this.#send(conn, intended, now);
  }

  /** Open model: a connection is free; give it the oldest waiting request, if any. */
  #release(conn: Connection, now = performance.now()): void {
    if (conn.isClosed) return;
    while (this.#pending.size > 0) {
      const intended = this.#pending.shift();
      if (now - intended > this.#o.timeoutMs) {
        // Waited longer than the timeout before it could even be sent; it is counted under
        // the name it would have had (drawn as a send would).
        if (this.#isMeasuring)
          this.#stats.recordFailure('timeout', this.#slotOf[this.#source.next().entry ?? 0]!);
        continue;
      }
      this.#send(conn, intended, now);
      return;
    }
    this.#idle.push(conn);
    if (this.#isStopping) this.#checkDrained();
  }

  // ---- closed model -----------------------------------------------------------------------

  #openClosed(): void {
    const conn = this.#openConnection();
    this.#fillClosed(conn);
  }

  #fillClosed(conn: Connection, now = performance.now()): void {
    while (
      this.#isRunning &&
      !conn.isClosed &&
      conn.inflight < this.#o.pipelining &&
      this.#sent < this.#o.requests
    ) {
      this.#send(conn, now, now);
    }
    if (this.#isRunning && this.#sent >= this.#o.requests && this.#inflightTotal() === 0) {
      void this.#stop(true);
    }
  }

  // ---- shared -----------------------------------------------------------------------------

  #openConnection(): Connection {
    const conn = Connection.open(this.#target, this, this.#hooks.onResponse !== undefined);
    this.#conns.add(conn);
    return conn;
  }

  #send(conn: Connection, intended: number, now: number): void {
    const req = this.#source.next();
    const entry = req.entry ?? 0;
    this.#sent++;
    // Counted like responses: only requests scheduled after warm-up (the open model may
    // still be sending warm-up requests that waited for a connection).
    if (this.#isMeasuring && Math.min(intended, now) >= this.#measureStart) {
      this.#measuredSent++;
      this.#bytesWritten += req.bytes.length;
      this.#stats.recordSent(this.#slotOf[entry]!);
    }
    conn.send(req.bytes, intended, now, req.isHead, entry, this.#checks[entry]?.needsBody === true);
  }

  #inflightTotal(): number {
    let n = 0;
    for (const c of this.#conns) n += c.inflight;
    return n;
  }

  onResponse(
    conn: Connection,
    intended: number,
    sent: number,
    status: number,
    bytes: number,
    request: Buffer,
    body: Buffer | null,
    entry: number,
  ): void {
    const now = performance.now();
    this.#hooks.onResponse?.({
      request,
      status,
      body: body ?? NO_BODY,
      failure: null,
      name: this.#names[this.#slotOf[entry]!]!,
      latencyUs: Math.round((now - intended) * 1000),
    });
    if (this.#isMeasuring && intended >= this.#measureStart) {
      const s = this.#stats;
      const slot = this.#slotOf[entry]!;
      s.recordResponse((now - intended) * 1000, (now - sent) * 1000, status, bytes, slot);
      const check = this.#checks[entry];
      if (check != null) s.recordCheck(slot, check.run(status, body));
      if (this.#o.model === 'closed' && s.expectedIntervalUs === 0 && s.completed === 200) {
        s.expectedIntervalUs = s.intended.percentile(50);
      }
    }
    if (this.#o.model === 'open') this.#release(conn, now);
    else if (this.#isRunning) this.#fillClosed(conn, now);
    else if (this.#isStopping) this.#checkDrained();
  }

  onFailure(
    _conn: Connection,
    kind: FailureKind,
    intended: number,
    _sent: number,
    request: Buffer,
    entry: number,
  ): void {
    this.#hooks.onResponse?.({
      request,
      status: 0,
      body: NO_BODY,
      failure: kind,
      name: this.#names[this.#slotOf[entry]!]!,
      latencyUs: 0,
    });
    if (this.#isMeasuring && intended >= this.#measureStart)
      this.#stats.recordFailure(kind, this.#slotOf[entry]!);
  }

  onClose(conn: Connection): void {
    this.#conns.delete(conn);
    if (this.#isStopping) {
      if (this.#o.model === 'open' && this.#pending.size > 0) this.#release(this.#openConnection());
      this.#checkDrained();
      return;
    }
    if (!this.#isRunning) return;
    if (this.#o.model === 'closed') {
      // A refused connection is retried after a pause, not in a tight loop.
      if (!conn.isConnected) {
        const t = setTimeout(() => {
          this.#timers.splice(this.#timers.indexOf(t), 1);
          if (this.#isRunning) this.#openClosed();
        }, 50);
        this.#timers.push(t);
      } else this.#openClosed();
    } else if (this.#pending.size > 0) {
      this.#release(this.#openConnection());
    }
  }

  #sweepTimeouts(): void {
    const deadline = performance.now() - this.#o.timeoutMs;
    for (const c of this.#conns) if (c.oldestSent < deadline) c.abort('timeout');
  }

  #checkDrained(): void {
    if (this.#draining !== null && this.#inflightTotal() === 0 && this.#pending.size === 0) {
      this.#draining();
    }
  }

  async #stop(drain: boolean): Promise<void> {
    if (this.#isStopping) {
      // A second stop without drain (e.g. Ctrl-C while draining) ends the drain now.
      if (!drain) this.#draining?.();
      return;
    }
    this.#isStopping = true;
    this.#isRunning = false;
    if (this.#tick !== null) clearTimeout(this.#tick);
    if (!this.#isMeasuring) this.#beginMeasuring();
    this.#measureEnd = performance.now();
    if (drain && (this.#inflightTotal() > 0 || this.#pending.size > 0)) {
      // Requests already due still go out and finish, bounded by the timeout sweep.
      await new Promise<void>((resolve) => {
        this.#draining = resolve;
      });
    }
    this.#draining = null;
    for (const t of this.#timers) clearTimeout(t);
    this.#timers = [];
    this.#unsent = this.#pending.size;
    this.#pending.clear();
    const o = this.#o;
    const target = o.model === 'open' ? rateAt(o, this.#measureEnd - this.#t0) : null;
    const partMs = this.#measureEnd - this.#measureStart - this.#second * 1000;
    const last = this.#stats.takeSecond(
      this.#second++,
      target,
      Math.max(0, Math.min(1000, partMs)),
    );
    const e = this.#stats.errors;
    this.#hooks.onSecond?.(last, this.#stats.completed, e.connect + e.timeout + e.reset);
    const done = this.#done;
    this.#done = null;
    done?.();
  }

  #output(): LoadResult {
    const o = this.#o;
    let unfinished = this.#unsent;
    for (const c of this.#conns) {
      unfinished += c.inflight;
      c.close();
    }
    this.#conns.clear();
    const end = this.#measureEnd === 0 ? performance.now() : this.#measureEnd;
    // Stopped before it began (while waiting for its start time): nothing was measured.
    const durationMs = this.#isMeasuring ? Math.max(0, end - this.#measureStart) : 0;
    const elu = performance.eventLoopUtilization(this.#elu0).utilization;
    const cpu = process.cpuUsage(this.#cpu0);
    const s = this.#stats;
    const statuses = s.statuses();
    const corrected = o.model === 'closed' ? s.corrected() : null;
    const latency = summarize(s.intended);
    const actualLatency = o.model === 'closed' ? latency : summarize(s.actual);
    const result: LoadResult = {
      v: 1,
      url: o.url.href,
      model: o.model,
      connections: o.connections,
      pipelining: o.pipelining,
      rate: o.rate,
      workers: 1,
      startedAt: new Date(performance.timeOrigin + this.#measureStart).toISOString(),
      durationMs,
      sent: this.#measuredSent,
      completed: s.completed,
      requestsPerSecond: durationMs > 0 ? (s.completed * 1000) / durationMs : 0,
      bytesRead: s.bytesRead,
      bytesWritten: this.#bytesWritten,
      statuses,
      errors: { ...s.errors },
      latency,
      actualLatency,
      coordinatedOmission:
        corrected === null
          ? null
          : coordinatedOmission(
              latency.percentiles['99']!,
              Math.round(corrected.percentile(99)),
              Math.round(corrected.percentile(99.9)),
            ),
      timeline: [],
      generator: {
        eventLoopUtilization: elu,
        cpuSeconds: (cpu.user + cpu.system) / 1e6,
        lateSends: this.#lateSends,
        sendLagP99: this.#lag.percentile(99),
        waitedForConnection: this.#waited,
        isBottleneck: false,
        warnings: [],
      },
      isInterrupted: this.#isInterrupted,
      unfinished,
      latencyUnit: 'us',
      byName: s.byName(durationMs),
      checks: s.checks(),
      byStatusClass: s.byStatusClass(),
    };
    return result;
  }
}
