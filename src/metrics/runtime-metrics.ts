import {
  PerformanceObserver,
  constants,
  performance,
  type EventLoopUtilization,
} from 'node:perf_hooks';
import { monotonicClock, type Clock } from '../internal/clock.js';
import { checkNumber } from '../internal/validate-options.js';
import type { HistogramMetric } from './histogram-metric.js';
import type { Counter } from './metric.js';
import { MetricsRegistry } from './registry.js';
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
  /** Event-loop delay sampling interval in milliseconds. @defaultValue 10 */
  resolutionMs?: number;
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

/**
 * Runtime metrics of this thread: event-loop delay (p50, p99, max) and utilization over a
 * *recent window* (not cumulative since start), GC pauses by kind, heap used and total, RSS,
 * external memory, array buffers and active resources, into a registry and as a
 * {@link RuntimeSnapshot} for the dashboard.
 *
 * Event-loop delay is sampled by a timer every `resolutionMs` (how late it fired) into a
 * windowed histogram; `monitorEventLoopDelay` is not used because its histogram only grows
 * and cannot be windowed or merged.
 */
export class RuntimeMetrics {
  /** The registry holding the metrics. */
  readonly registry: MetricsRegistry;
  readonly #delay: WindowedHistogram;
  readonly #elu: EventLoopUtilization[];
  #eluIndex = 0;
  readonly #gcWindow: Float64Array[];
  readonly #gcRuns: Counter;
  readonly #gcPause: HistogramMetric;
  readonly #observer: PerformanceObserver;
  readonly #sampler: NodeJS.Timeout;
  readonly #rotator: NodeJS.Timeout;
  readonly #clock: Clock;
  #lastTick: number;
  readonly #resolutionMs: number;
  #closed = false;

  /** @throws {@link InvalidOptionError} `HP_ERR_INVALID_OPTION` on a bad option. */
  constructor(options: RuntimeMetricsOptions = {}) {
    this.registry = options.registry ?? new MetricsRegistry();
    const prefix = options.prefix ?? 'nodejs_';
    const windowMs = checkNumber('windowMs', options.windowMs ?? 10_000, { min: 1 });
    const slotMs = checkNumber('slotMs', options.slotMs ?? 1000, { min: 1, max: windowMs });
    this.#resolutionMs = checkNumber('resolutionMs', options.resolutionMs ?? 10, { min: 1 });
    this.#clock = options.clock ?? monotonicClock;
    const slots = Math.max(1, Math.round(windowMs / slotMs));
    this.#delay = new WindowedHistogram({
      windowMs: slots * slotMs,
      slots,
      autoRotate: false,
      lowest: 1,
      highest: 600e6,
      clock: this.#clock,
    });
    const first = performance.eventLoopUtilization();
    this.#elu = Array.from({ length: slots + 1 }, () => first);
    this.#gcWindow = Array.from({ length: slots }, () => new Float64Array(KINDS.length));
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
      () => this.#delay.window().percentile(50) / 1e6,
      'max',
    );
    gauge(
      'eventloop_delay_p99_seconds',
      `Event-loop delay 99th percentile over the last ${windowSeconds} s.`,
      () => this.#delay.window().percentile(99) / 1e6,
      'max',
    );
    gauge(
      'eventloop_delay_max_seconds',
      `Event-loop delay maximum over the last ${windowSeconds} s.`,
      () => this.#delay.window().max / 1e6,
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

    this.#lastTick = this.#clock.now();
    this.#sampler = setInterval(() => this.#sample(), this.#resolutionMs);
    this.#sampler.unref();
    this.#rotator = setInterval(() => this.rotate(), slotMs);
    this.#rotator.unref();
  }

  /** Starts a new window slot; called by the internal timer every `slotMs`. */
  rotate(): void {
    this.#delay.rotate();
    this.#gcWindow[this.#delay.slotIndex]!.fill(0);
    this.#eluIndex = (this.#eluIndex + 1) % this.#elu.length;
    this.#elu[this.#eluIndex] = performance.eventLoopUtilization();
  }

  /** The figures of the recent window. */
  snapshot(): RuntimeSnapshot {
    const delay = this.#delay.window();
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
    this.#delay.record(micros);
  }

  /** Stops the timers and the GC observer. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#sampler);
    clearInterval(this.#rotator);
    this.#observer.disconnect();
    await this.#delay.close();
  }

  #sample(): void {
    const now = this.#clock.now();
    const late = now - this.#lastTick - this.#resolutionMs;
    this.#lastTick = now;
    this.#delay.record(Math.max(1, late * 1000));
  }

  #utilization(): number {
    // The oldest snapshot in the ring is one window old (the slot after the current one).
    const oldest = this.#elu[(this.#eluIndex + 1) % this.#elu.length]!;
    return performance.eventLoopUtilization(performance.eventLoopUtilization(), oldest).utilization;
  }
}
