import { EventEmitter } from 'node:events';
import { PerformanceObserver, constants } from 'node:perf_hooks';
import { getHeapStatistics } from 'node:v8';
import { InvalidOptionError } from '../errors/index.js';
import { checkNumber } from '../internal/validate-options.js';
import type { MetricsRegistry } from './registry.js';

/** Options of {@link LeakDetector}. */
export interface LeakDetectorOptions {
  /** Regression window: samples older than this are dropped. @defaultValue 600000 (10 min) */
  windowMs?: number;
  /** Growth (least-squares slope) above which the heap is suspect, in MB per minute. @defaultValue 1 */
  thresholdMbPerMinute?: number;
  /**
   * How well a straight line must fit the samples (R², 0 to 1) for the growth to count as
   * *sustained*. A sawtooth fits a line badly and stays quiet.
   * @defaultValue 0.8
   */
  minR2?: number;
  /** Fewest samples before judging. @defaultValue 10 */
  minSamples?: number;
  /**
   * Shortest span the samples must cover before judging, in ms. Make it cover several periods
   * of the program's normal sawtooth (cache fills and flushes), or one rising tooth would look
   * like a leak. @defaultValue windowMs / 2
   */
  minSpanMs?: number;
  /** Fewest milliseconds between two samples (GCs closer together are skipped). @defaultValue 5000 */
  minIntervalMs?: number;
  /** Sample automatically after every major GC. @defaultValue true */
  observeGc?: boolean;
  /** Reads the heap size in bytes. @defaultValue v8 `used_heap_size` */
  readHeap?: () => number;
  /** Clock in milliseconds. @defaultValue `performance` */
  clock?: { now(): number };
  /** Adds `nodejs_heap_growth_bytes_per_minute` and `nodejs_heap_leak_suspected` gauges here. */
  registry?: MetricsRegistry;
}

/** One heap sample taken after a GC. */
export interface HeapSample {
  /** Clock time in milliseconds. */
  at: number;
  heapBytes: number;
}

/** The evidence a `leak` event carries. */
export interface LeakEvidence {
  /** Least-squares growth of the post-GC heap, MB per minute. */
  slopeMbPerMinute: number;
  /** Goodness of fit of that line, 0 to 1. */
  r2: number;
  /** The samples the judgement used. */
  samples: HeapSample[];
  /** Span the samples cover, ms. */
  spanMs: number;
  firstBytes: number;
  lastBytes: number;
}

/** The detector's current reading. */
export interface LeakStatus {
  suspected: boolean;
  slopeMbPerMinute: number;
  r2: number;
  samples: number;
}

const MB = 1024 * 1024;

/**
 * Flags sustained heap growth: it samples the heap after major GCs (what survives a full
 * collection is what the program keeps), fits a least-squares line over a sliding window,
 * and emits `leak` with the evidence when the slope is above `thresholdMbPerMinute` *and*
 * the line fits (R² at least `minR2`). A steady sawtooth never fits a rising line, so it
 * stays quiet whatever its amplitude. Emits `recovered` when the slope falls below half the
 * threshold again.
 * @example
 * ```ts
 * const detector = new LeakDetector({ thresholdMbPerMinute: 2 });
 * detector.on('leak', (evidence) => log.error(evidence, 'heap keeps growing'));
 * ```
 */
export class LeakDetector extends EventEmitter<{ leak: [LeakEvidence]; recovered: [LeakStatus] }> {
  readonly #windowMs: number;
  readonly #threshold: number;
  readonly #minR2: number;
  readonly #minSamples: number;
  readonly #minSpanMs: number;
  readonly #minIntervalMs: number;
  readonly #readHeap: () => number;
  readonly #clock: { now(): number };
  readonly #observer: PerformanceObserver | undefined;
  #samples: HeapSample[] = [];
  #status: LeakStatus = { suspected: false, slopeMbPerMinute: 0, r2: 0, samples: 0 };

  /** @throws {@link InvalidOptionError} `HP_ERR_INVALID_OPTION` on a bad option. */
  constructor(options: LeakDetectorOptions = {}) {
    super();
    this.#windowMs = checkNumber('windowMs', options.windowMs ?? 600_000, { min: 1 });
    this.#threshold = checkNumber('thresholdMbPerMinute', options.thresholdMbPerMinute ?? 1, {
      min: 0,
    });
    this.#minR2 = checkNumber('minR2', options.minR2 ?? 0.8, { min: 0, max: 1 });
    this.#minSamples = checkNumber('minSamples', options.minSamples ?? 10, {
      min: 3,
      integer: true,
    });
    this.#minSpanMs = checkNumber('minSpanMs', options.minSpanMs ?? this.#windowMs / 2, {
      min: 0,
      max: this.#windowMs,
    });
    this.#minIntervalMs = checkNumber('minIntervalMs', options.minIntervalMs ?? 5000, { min: 0 });
    if (options.readHeap !== undefined && typeof options.readHeap !== 'function') {
      throw new InvalidOptionError('readHeap', 'expected a function');
    }
    this.#readHeap = options.readHeap ?? (() => getHeapStatistics().used_heap_size);
    this.#clock = options.clock ?? performance;
    if (options.observeGc ?? true) {
      this.#observer = new PerformanceObserver((list) => {
        for (const entry of list.getEntries()) {
          const kind = (entry as { detail?: { kind?: number } }).detail?.kind;
          if (kind === constants.NODE_PERFORMANCE_GC_MAJOR) {
            this.sample(this.#readHeap());
            break;
          }
        }
      });
      this.#observer.observe({ entryTypes: ['gc'] });
    }
    if (options.registry !== undefined) {
      const r = options.registry;
      const slope = r.gauge({
        name: 'nodejs_heap_growth_bytes_per_minute',
        help: 'Least-squares growth of the heap after major GCs over the leak window.',
        collect: () => slope.set(this.#status.slopeMbPerMinute * MB),
      });
      const suspected = r.gauge({
        name: 'nodejs_heap_leak_suspected',
        help: '1 while the leak detector sees sustained heap growth.',
        collect: () => suspected.set(this.#status.suspected ? 1 : 0),
      });
    }
  }

  /** Adds a sample (the GC observer's job; call it yourself with `observeGc: false`). */
  sample(heapBytes: number, at: number = this.#clock.now()): void {
    const last = this.#samples.at(-1);
    if (last !== undefined && at - last.at < this.#minIntervalMs) return;
    this.#samples.push({ at, heapBytes });
    const horizon = at - this.#windowMs;
    let drop = 0;
    while (drop < this.#samples.length && this.#samples[drop]!.at < horizon) drop++;
    if (drop > 0) this.#samples = this.#samples.slice(drop);
    this.#judge();
  }

  /** The current reading. */
  status(): LeakStatus {
    return { ...this.#status };
  }

  /** Stops observing GCs. */
  async close(): Promise<void> {
    this.#observer?.disconnect();
  }

  #judge(): void {
    const samples = this.#samples;
    const n = samples.length;
    const span = n > 0 ? samples[n - 1]!.at - samples[0]!.at : 0;
    const { slope, r2 } = fit(samples);
    const slopeMbPerMinute = (slope * 60_000) / MB;
    const was = this.#status.suspected;
    let suspected = was;
    if (n >= this.#minSamples && span >= this.#minSpanMs) {
      if (!was && slopeMbPerMinute > this.#threshold && r2 >= this.#minR2) suspected = true;
      else if (was && slopeMbPerMinute < this.#threshold / 2) suspected = false;
    }
    this.#status = { suspected, slopeMbPerMinute, r2, samples: n };
    if (suspected && !was) {
      this.emit('leak', {
        slopeMbPerMinute,
        r2,
        samples: samples.map((s) => ({ ...s })),
        spanMs: span,
        firstBytes: samples[0]!.heapBytes,
        lastBytes: samples[n - 1]!.heapBytes,
      });
    } else if (was && !suspected) this.emit('recovered', this.status());
  }
}

/** Least-squares line through the samples: slope in bytes per ms and R². */
function fit(samples: readonly HeapSample[]): { slope: number; r2: number } {
  const n = samples.length;
  if (n < 2) return { slope: 0, r2: 0 };
  const t0 = samples[0]!.at;
  let sx = 0;
  let sy = 0;
  for (const s of samples) {
    sx += s.at - t0;
    sy += s.heapBytes;
  }
  const mx = sx / n;
  const my = sy / n;
  let sxx = 0;
  let sxy = 0;
  let syy = 0;
  for (const s of samples) {
    const dx = s.at - t0 - mx;
    const dy = s.heapBytes - my;
    sxx += dx * dx;
    sxy += dx * dy;
    syy += dy * dy;
  }
  if (sxx === 0) return { slope: 0, r2: 0 };
  const slope = sxy / sxx;
  const r2 = syy === 0 ? 0 : (sxy * sxy) / (sxx * syy);
  return { slope, r2 };
}
