/**
 * One thread's load test: connections, requests, statistics, timeouts, warm-up and the end of
 * the run. {@link load} runs one engine, or one per worker thread.
 *
 * When requests are sent is the {@link ArrivalModel}'s business, chosen once here: the open
 * model (arrivals at a rate, latency from the intended send time, open-model.ts) or the closed
 * model (N connections each sending on completion, closed-model.ts).
 */
import { performance } from 'node:perf_hooks';
import type { ArrivalModel, EngineCore } from './arrival-model.js';
import { compileCheck, type CompiledCheck } from './checks.js';
import { ClosedModel } from './closed-model.js';
import { Connection, type ConnectionOwner, type FailureKind, type Target } from './connection.js';
import { OpenModel } from './open-model.js';
import type { ResolvedOptions } from './options.js';
import { createMixSource, requestName, seededRandom, type RequestSource } from './request-mix.js';
import type { LoadResult } from './result.js';
import { type SecondSample, Stats, summarize } from './stats.js';

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
export class Engine implements ConnectionOwner, EngineCore {
  readonly options: ResolvedOptions;
  readonly stats: Stats;
  readonly #target: Target;
  readonly #source: RequestSource;
  readonly #hooks: EngineHooks;
  readonly #model: ArrivalModel;
  /** Per request-mix entry: its name's slot in the stats, and its compiled check. */
  readonly #slotOf: number[];
  readonly #names: string[];
  readonly #checks: (CompiledCheck | null)[];
  readonly #conns = new Set<Connection>();
  #isRunning = false;
  #isMeasuring = false;
  #isInterrupted = false;
  #t0 = 0;
  #measureStart = 0;
  #measureEnd = 0;
  #sent = 0;
  #measuredSent = 0;
  #bytesWritten = 0;
  #second = 0;
  #timers: NodeJS.Timeout[] = [];
  #elu0 = performance.eventLoopUtilization();
  #cpu0 = process.cpuUsage();
  #done: (() => void) | null = null;
  #isStopping = false;
  #unsent = 0;
  #draining: (() => void) | null = null;

  constructor(options: ResolvedOptions, hooks: EngineHooks = {}) {
    this.options = options;
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
    this.stats = new Stats(options.model, names);
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
    this.#model = options.model === 'open' ? new OpenModel(this) : new ClosedModel(this);
  }

  // ---- EngineCore: what the arrival model reads and calls --------------------------------

  get isRunning(): boolean {
    return this.#isRunning;
  }

  get isStopping(): boolean {
    return this.#isStopping;
  }

  get isMeasuring(): boolean {
    return this.#isMeasuring;
  }

  get sent(): number {
    return this.#sent;
  }

  get connectionCount(): number {
    return this.#conns.size;
  }

  openConnection(): Connection {
    const conn = Connection.open(this.#target, this, this.#hooks.onResponse !== undefined);
    this.#conns.add(conn);
    return conn;
  }

  send(conn: Connection, intended: number, now: number): void {
    const req = this.#source.next();
    const entry = req.entry ?? 0;
    this.#sent++;
    // Counted like responses: only requests scheduled after warm-up (the open model may
    // still be sending warm-up requests that waited for a connection).
    if (this.#isMeasuring && Math.min(intended, now) >= this.#measureStart) {
      this.#measuredSent++;
      this.#bytesWritten += req.bytes.length;
      this.stats.recordSent(this.#slotOf[entry]!);
    }
    conn.send(req.bytes, intended, now, req.isHead, entry, this.#checks[entry]?.needsBody === true);
  }

  inflightTotal(): number {
    let n = 0;
    for (const c of this.#conns) n += c.inflight;
    return n;
  }

  failUnsent(): void {
    // Counted under the name it would have had (drawn as a send would).
    if (this.#isMeasuring)
      this.stats.recordFailure('timeout', this.#slotOf[this.#source.next().entry ?? 0]!);
  }

  stop(drain: boolean): void {
    void this.#stop(drain);
  }

  checkDrained(): void {
    if (this.#draining !== null && this.inflightTotal() === 0 && this.#model.backlog === 0) {
      this.#draining();
    }
  }

  later(fn: () => void, delayMs: number): void {
    const t = setTimeout(() => {
      this.#timers.splice(this.#timers.indexOf(t), 1);
      fn();
    }, delayMs);
    this.#timers.push(t);
  }

  // ---- the run -----------------------------------------------------------------------------

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
      const startAt = this.options.startAt;
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
    const o = this.options;
    this.#isRunning = true;
    this.#t0 = performance.now();
    if (o.warmupMs > 0) this.#timers.push(setTimeout(() => this.#beginMeasuring(), o.warmupMs));
    else this.#beginMeasuring();
    if (Number.isFinite(o.durationMs)) {
      this.#timers.push(setTimeout(() => void this.#stop(true), o.warmupMs + o.durationMs));
    }
    const sweepMs = Math.max(5, Math.min(250, o.timeoutMs / 4));
    this.#timers.push(setInterval(() => this.#sweepTimeouts(), sweepMs));
    this.#model.start(this.#t0);
  }

  #beginMeasuring(): void {
    this.stats.reset();
    this.#model.beginMeasuring();
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
    const target = this.#model.targetRate(performance.now() - this.#t0);
    const sample = this.stats.takeSecond(this.#second++, target);
    this.#model.onSecond(this.stats);
    const e = this.stats.errors;
    this.#hooks.onSecond?.(sample, this.stats.completed, e.connect + e.timeout + e.reset);
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
      const s = this.stats;
      const slot = this.#slotOf[entry]!;
      s.recordResponse((now - intended) * 1000, (now - sent) * 1000, status, bytes, slot);
      const check = this.#checks[entry];
      if (check != null) s.recordCheck(slot, check.run(status, body));
      this.#model.onMeasuredResponse(s);
    }
    this.#model.onResponse(conn, now);
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
      this.stats.recordFailure(kind, this.#slotOf[entry]!);
  }

  onClose(conn: Connection): void {
    this.#conns.delete(conn);
    if (this.#isRunning || this.#isStopping) this.#model.onClose(conn);
    if (this.#isStopping) this.checkDrained();
  }

  #sweepTimeouts(): void {
    const deadline = performance.now() - this.options.timeoutMs;
    for (const c of this.#conns) if (c.oldestSent < deadline) c.abort('timeout');
  }

  async #stop(drain: boolean): Promise<void> {
    if (this.#isStopping) {
      // A second stop without drain (e.g. Ctrl-C while draining) ends the drain now.
      if (!drain) this.#draining?.();
      return;
    }
    this.#isStopping = true;
    this.#isRunning = false;
    this.#model.stop();
    if (!this.#isMeasuring) this.#beginMeasuring();
    this.#measureEnd = performance.now();
    if (drain && (this.inflightTotal() > 0 || this.#model.backlog > 0)) {
      // Requests already due still go out and finish, bounded by the timeout sweep.
      await new Promise<void>((resolve) => {
        this.#draining = resolve;
      });
    }
    this.#draining = null;
    for (const t of this.#timers) clearTimeout(t);
    this.#timers = [];
    this.#unsent = this.#model.dropBacklog();
    const target = this.#model.targetRate(this.#measureEnd - this.#t0);
    const partMs = this.#measureEnd - this.#measureStart - this.#second * 1000;
    const last = this.stats.takeSecond(this.#second++, target, Math.max(0, Math.min(1000, partMs)));
    const e = this.stats.errors;
    this.#hooks.onSecond?.(last, this.stats.completed, e.connect + e.timeout + e.reset);
    const done = this.#done;
    this.#done = null;
    done?.();
  }

  #output(): LoadResult {
    const o = this.options;
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
    const s = this.stats;
    const statuses = s.statuses();
    const latency = summarize(s.intended);
    const { actualLatency, coordinatedOmission } = this.#model.latencyResult(s, latency);
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
      coordinatedOmission,
      timeline: [],
      generator: {
        eventLoopUtilization: elu,
        cpuSeconds: (cpu.user + cpu.system) / 1e6,
        ...this.#model.sendStats(),
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
