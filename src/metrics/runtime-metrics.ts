import { PerformanceObserver, constants, performance } from 'node:perf_hooks';
import { monotonicClock, type Clock } from '../internal/clock.js';
import { checkNumber } from '../internal/validate-options.js';
import type { Histogram } from './histogram.js';
import type { HistogramMetric } from './histogram-metric.js';
import type { Counter } from './metric.js';
import { MetricsRegistry } from './registry.js';
import { LoopDelaySampler } from './loop-delay-sampler.js';
import { WindowedHistogram } from './windowed-histogram.js';

/** Options of {@link RuntimeMetrics}. */
export interface RuntimeMetricsOptions {
  /** Registry the runtime metrics go into. @defaultValue a new {@link MetricsRegistry} */
  registry?: MetricsRegistry;
  /** Prefix of the metric names. @defaultValue `'nodejs_'` */
  prefix?: string;
  /** The recent window event-loop figures cover, in milliseconds. @defaultValue 10000 */
  windowMs?: number;
  /** Slot length of the window. @defaultValue 1000 */
  slotMs?: number;
  /** Event-loop delay sampling interval in milliseconds, while the loop is active. @defaultValue 10 */
  resolutionMs?: number;
  /**
   * How long the event loop must stay idle before the delay sampler stops its timer, in
   * milliseconds; the next callback the loop runs starts it again. 0 keeps the timer running.
   * @defaultValue 10
   */
  idleAfterMs?: number;
  /** Clock in milliseconds. @defaultValue `performance` */
  clock?: Clock;
}

/** The runtime figures of the recent window, for dashboards and SLOs. */
export interface RuntimeSnapshot {
  /** Event-loop delay over the window, in milliseconds. */
  eventLoopDelay: { p50: number; p99: number; max: number; mean: number };
  /** Share of the window the event loop was busy, 0 to 1. */
  eventLoopUtilization: number;
  /** Milliseconds of GC pause in the window, by kind. */
  gcPauseMs: Record<GcKind, number>;
  /** Bytes. */
  heapUsed: number;
  heapTotal: number;
  rss: number;
  external: number;
  arrayBuffers: number;
  /** Active libuv handles and requests (sockets, timers, files...). */
  activeResources: number;
}

/** GC kinds as Node reports them. */
export type GcKind = 'minor' | 'major' | 'incremental' | 'weakcb';

const GC_KINDS: Record<number, GcKind> = {
  [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
  [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
};
const KINDS: GcKind[] = ['minor', 'major', 'incremental', 'weakcb'];

/** Cumulative event-loop busy and idle milliseconds at a clock time. */
interface LoopTimes {
  at: number;
  active: number;
  idle: number;
}

/**
 * Runtime metrics of this thread: event-loop delay (p50, p99, max) and utilization over a
 * *recent window* (not cumulative since start), GC pauses by kind, heap used and total, RSS,
 * external memory, array buffers and active resources, into a registry and as a
 * {@link RuntimeSnapshot} for the dashboard.
 *
 * Event-loop delay is sampled by a timer every `resolutionMs` (how late it fired) into a
 * windowed histogram; `monitorEventLoopDelay` is not used because its histogram only grows
 * and cannot be windowed or merged. The timer stops while the loop is idle and the next
 * callback the loop runs starts it again ({@link LoopDelaySampler}): an idle stretch counts
 * as samples of no delay, one per `resolutionMs`, so the percentiles weigh time as a timer
 * that never stopped would. The window's slots advance when the metrics are recorded or read,
 * not on a timer, so an idle process is not woken for them.
 */
export class RuntimeMetrics {
  /** The registry holding the metrics. */
  readonly registry: MetricsRegistry;
  readonly #delay: WindowedHistogram;
  /** Loop times at the start of each slot, a ring of `slots + 1`. */
  readonly #elu: LoopTimes[];
  #eluIndex = 0;
  /** The latest loop times read, for placing the slot starts that pass unobserved. */
  #eluLast: LoopTimes;
  readonly #gcWindow: Float64Array[];
  /** Milliseconds the delay sampler was parked, per slot. */
  readonly #parkedMs: Float64Array;
  #parkedSince: number | undefined;
  readonly #gcRuns: Counter;
  readonly #gcPause: HistogramMetric;
  readonly #observer: PerformanceObserver;
  readonly #sampler: LoopDelaySampler;
  readonly #clock: Clock;
  readonly #slotMs: number;
  #slotStart: number;
  readonly #resolutionMs: number;
  #closed = false;

  /** @throws {@link InvalidOptionError} `HP_ERR_INVALID_OPTION` on a bad option. */
  constructor(options: RuntimeMetricsOptions = {}) {
    this.registry = options.registry ?? new MetricsRegistry();
    const prefix = options.prefix ?? 'nodejs_';
    const windowMs = checkNumber('windowMs', options.windowMs ?? 10_000, { min: 1 });
    const slotMs = checkNumber('slotMs', options.slotMs ?? 1000, { min: 1, max: windowMs });
    this.#resolutionMs = checkNumber('resolutionMs', options.resolutionMs ?? 10, { min: 1 });
    const idleAfterMs = checkNumber('idleAfterMs', options.idleAfterMs ?? 10, { min: 0 });
    this.#clock = options.clock ?? monotonicClock;
    const slots = Math.max(1, Math.round(windowMs / slotMs));
    this.#slotMs = slotMs;
    this.#delay = new WindowedHistogram({
      windowMs: slots * slotMs,
      slots,
      autoRotate: false,
      lowest: 1,
      highest: 600e6,
      clock: this.#clock,
    });
    this.#slotStart = this.#clock.now();
    this.#eluLast = this.#loopTimes(this.#slotStart);
    this.#elu = Array.from({ length: slots + 1 }, () => this.#eluLast);
    this.#gcWindow = Array.from({ length: slots }, () => new Float64Array(KINDS.length));
    this.#parkedMs = new Float64Array(slots);
    const r = this.registry;

    const windowSeconds = (slots * slotMs) / 1000;
    const gauge = (name: string, help: string, read: () => number, aggregate?: 'max'): void => {
      const g = r.gauge({
        name: prefix + name,
        help,
        collect: () => g.set(read()),
        ...(aggregate === undefined ? {} : { aggregate }),
      });
    };
    let memory = process.memoryUsage();
    gauge(
      'eventloop_delay_p50_seconds',
      `Event-loop delay median over the last ${windowSeconds} s.`,
      () => this.#delayWindow().percentile(50) / 1e6,
      'max',
    );
    gauge(
      'eventloop_delay_p99_seconds',
      `Event-loop delay 99th percentile over the last ${windowSeconds} s.`,
      () => this.#delayWindow().percentile(99) / 1e6,
      'max',
    );
    gauge(
      'eventloop_delay_max_seconds',
      `Event-loop delay maximum over the last ${windowSeconds} s.`,
      () => this.#delayWindow().max / 1e6,
      'max',
    );
    gauge(
      'eventloop_utilization_ratio',
      `Share of the last ${windowSeconds} s the event loop was busy.`,
      () => this.#utilization(),
      'max',
    );
    gauge('heap_used_bytes', 'V8 heap used.', () => (memory = process.memoryUsage()).heapUsed);
    gauge('heap_total_bytes', 'V8 heap reserved.', () => memory.heapTotal);
    gauge('resident_memory_bytes', 'Resident set size.', () => memory.rss);
    gauge('external_memory_bytes', 'Memory of C++ objects bound to JS.', () => memory.external);
    gauge('array_buffers_bytes', 'Memory of ArrayBuffers and Buffers.', () => memory.arrayBuffers);
    gauge(
      'active_resources',
      'Active libuv handles and requests keeping the loop alive.',
      () => process.getActiveResourcesInfo().length,
    );
    this.#gcRuns = r.counter({
      name: `${prefix}gc_runs_total`,
      help: 'Garbage collections, by kind.',
      labelNames: ['kind'],
    });
    this.#gcPause = r.histogram({
      name: `${prefix}gc_pause_seconds`,
      help: 'Garbage collection pauses, by kind.',
      labelNames: ['kind'],
      lowest: 1,
      highest: 60e6,
      scale: 1e-6,
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    });
    const runs = KINDS.map((k) => this.#gcRuns.labels(k));
    const pauses = KINDS.map((k) => this.#gcPause.labels(k));
    this.#observer = new PerformanceObserver((list) => {
      this.#advance(this.#clock.now());
      for (const entry of list.getEntries()) {
        const detail = (entry as { detail?: { kind?: number } }).detail;
        const kind = GC_KINDS[detail?.kind ?? -1];
        if (kind === undefined) continue;
        const k = KINDS.indexOf(kind);
        runs[k]!.inc();
        pauses[k]!.record(entry.duration * 1000);
        this.#gcWindow[this.#delay.slotIndex]![k]! += entry.duration;
      }
    });
    this.#observer.observe({ entryTypes: ['gc'] });

    this.#sampler = new LoopDelaySampler({
      resolutionMs: this.#resolutionMs,
      idleAfterMs,
      clock: this.#clock,
      onSample: (micros, at) => {
        this.#advance(at);
        this.#delay.record(micros);
      },
      onPark: (at) => {
        this.#advance(at);
        this.#parkedSince = at;
      },
      onResume: (at) => {
        this.#advance(at);
        this.#parkedMs[this.#delay.slotIndex]! += this.#parkedIn(this.#slotStart, at);
        this.#parkedSince = undefined;
      },
    });
  }

  /** Starts a new window slot now (the slots also advance by themselves every `slotMs`). */
  rotate(): void {
    const now = this.#clock.now();
    this.#advance(now);
    this.#parkedMs[this.#delay.slotIndex]! += this.#parkedIn(this.#slotStart, now);
    this.#eluLast = this.#loopTimes(now);
    this.#nextSlot(this.#eluLast);
    this.#slotStart = now;
  }

  /** The figures of the recent window. */
  snapshot(): RuntimeSnapshot {
    const delay = this.#delayWindow();
    const gc = { minor: 0, major: 0, incremental: 0, weakcb: 0 };
    for (const slot of this.#gcWindow) KINDS.forEach((k, i) => (gc[k] += slot[i]!));
    const memory = process.memoryUsage();
    return {
      eventLoopDelay: {
        p50: delay.percentile(50) / 1000,
        p99: delay.percentile(99) / 1000,
        max: delay.max / 1000,
        mean: delay.mean / 1000,
      },
      eventLoopUtilization: this.#utilization(),
      gcPauseMs: gc,
      heapUsed: memory.heapUsed,
      heapTotal: memory.heapTotal,
      rss: memory.rss,
      external: memory.external,
      arrayBuffers: memory.arrayBuffers,
      activeResources: process.getActiveResourcesInfo().length,
    };
  }

  /** Records one event-loop delay sample in microseconds (the sampler's job; public for tests). */
  recordDelay(micros: number): void {
    this.#advance(this.#clock.now());
    this.#delay.record(micros);
  }

  /** How many times the delay sampler stopped its timer because the event loop was idle. */
  get delaySamplerParks(): number {
    return this.#sampler.parks;
  }

  /** Stops the sampler and the GC observer. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#sampler.close();
    this.#observer.disconnect();
    await this.#delay.close();
  }

  /** The delay histogram of the window, parked stretches counted as samples of no delay. */
  #delayWindow(): Histogram {
    const now = this.#clock.now();
    this.#advance(now);
    const merged = this.#delay.window();
    let parked = this.#parkedIn(this.#slotStart, now);
    for (const ms of this.#parkedMs) parked += ms;
    const samples = Math.round(parked / this.#resolutionMs);
    if (samples > 0) merged.recordMany(1, samples);
    return merged;
  }

  /** Milliseconds of [from, to] the sampler spent parked (so far, if still parked). */
  #parkedIn(from: number, to: number): number {
    if (this.#parkedSince === undefined) return 0;
    return Math.max(0, to - Math.max(from, this.#parkedSince));
  }

  /** Moves the window to `now`: one slot per `slotMs` that passed since the current one began. */
  #advance(now: number): void {
    const passed = Math.floor((now - this.#slotStart) / this.#slotMs);
    if (passed <= 0) return;
    const last = this.#eluLast;
    const current = this.#loopTimes(now);
    // Slots older than the window are overwritten anyway: skip to the last slots + 1.
    const skip = Math.max(0, passed - this.#elu.length);
    for (let i = skip + 1; i <= passed; i++) {
      const start = this.#slotStart + i * this.#slotMs;
      this.#parkedMs[this.#delay.slotIndex]! += this.#parkedIn(start - this.#slotMs, start);
      this.#nextSlot(interpolate(last, current, start));
    }
    this.#slotStart += passed * this.#slotMs;
    this.#eluLast = current;
  }

  #nextSlot(loopTimes: LoopTimes): void {
    this.#delay.rotate();
    this.#gcWindow[this.#delay.slotIndex]!.fill(0);
    this.#parkedMs[this.#delay.slotIndex] = 0;
    this.#eluIndex = (this.#eluIndex + 1) % this.#elu.length;
    this.#elu[this.#eluIndex] = loopTimes;
  }

  #loopTimes(at: number): LoopTimes {
    const { active, idle } = performance.eventLoopUtilization();
    return { at, active, idle };
  }

  #utilization(): number {
    const now = this.#clock.now();
    this.#advance(now);
    // The oldest entry in the ring is one window old (the slot after the current one).
    const oldest = this.#elu[(this.#eluIndex + 1) % this.#elu.length]!;
    const current = this.#loopTimes(now);
    const active = current.active - oldest.active;
    const total = active + current.idle - oldest.idle;
    return total > 0 ? Math.min(1, Math.max(0, active / total)) : 0;
  }
}

/**
 * The loop times at `at`, between two readings: nothing was read in between, so spread the
 * change evenly (exact at both ends, and the ends are what a whole window sums).
 */
function interpolate(from: LoopTimes, to: LoopTimes, at: number): LoopTimes {
  const span = to.at - from.at;
  const f = span > 0 ? Math.min(1, Math.max(0, (at - from.at) / span)) : 1;
  return {
    at,
    active: from.active + (to.active - from.active) * f,
    idle: from.idle + (to.idle - from.idle) * f,
  };
}
