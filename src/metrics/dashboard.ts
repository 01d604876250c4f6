import { InvalidOptionError } from '../errors/index.js';
import { checkNumber, checkString } from '../internal/validate-options.js';
import type { RequestMetrics } from './request-metrics.js';
import type { RuntimeMetrics } from './runtime-metrics.js';
import type { SloMonitor } from './slo.js';

/** One line of a chart panel. */
export interface PanelSeries {
  label: string;
  /** CSS color. @defaultValue picked from a palette */
  color?: string;
}

/** A time-series chart: `sample()` returns one value per series, every interval. */
export interface ChartPanel {
  id: string;
  title: string;
  kind?: 'chart';
  /** Unit shown on the axis (`ms`, `req/s`, `%`, `MB`). */
  unit?: string;
  series: PanelSeries[];
  sample: () => number[];
}

/** One line of a status panel. */
export interface StatusItem {
  label: string;
  ok: boolean;
  detail?: string;
}

/** A list of OK / failing items (SLOs, breaker states). */
export interface StatusPanel {
  id: string;
  title: string;
  kind: 'status';
  sample: () => StatusItem[];
}

/** A link the page opens in a new tab (profiling endpoints, runbooks). */
export interface PanelLink {
  label: string;
  /** Absolute path or URL. */
  href: string;
}

/** A fixed row of links shown as buttons; nothing to sample. */
export interface LinksPanel {
  id: string;
  title: string;
  kind: 'links';
  links: PanelLink[];
}

/** What {@link Dashboard.addPanel} takes. */
export type Panel = ChartPanel | StatusPanel | LinksPanel;

/** A panel as the page sees it (no sampler). */
export type PanelDefinition =
  | { id: string; title: string; kind: 'chart'; unit: string; series: Required<PanelSeries>[] }
  | { id: string; title: string; kind: 'status' }
  | { id: string; title: string; kind: 'links'; links: PanelLink[] };

/** One sampling of every panel. */
export interface DashboardFrame {
  /** Wall-clock time, ms since the epoch. */
  t: number;
  values: Record<string, number[] | StatusItem[]>;
}

/** What a subscriber receives. */
export type DashboardEvent =
  { type: 'panels'; panels: PanelDefinition[] } | { type: 'frame'; frame: DashboardFrame };

/** Options of {@link Dashboard}. */
export interface DashboardOptions {
  /** Sampling interval in milliseconds. @defaultValue 1000 */
  intervalMs?: number;
  /** Frames kept for a page that opens late. @defaultValue 300 */
  historyFrames?: number;
  /** Adds the request panels (rate, latency, error rate). */
  requests?: RequestMetrics;
  /** Adds the runtime panels (event loop, memory, GC). */
  runtime?: RuntimeMetrics;
  /** Adds the SLO status panel. */
  slo?: SloMonitor;
  /** Window of the request panels, in milliseconds. @defaultValue 5000 */
  requestWindowMs?: number;
  /** Page title. @defaultValue `'hotpath'` */
  title?: string;
  /** Wall clock for frame times. @defaultValue `Date` */
  clock?: { now(): number };
}

const PALETTE = ['#2563eb', '#f59e0b', '#dc2626', '#16a34a', '#9333ea', '#0891b2', '#db2777'];
const ID = /^[a-z][a-z0-9-]*$/;

/**
 * The data side of the live dashboard: a list of panels sampled every `intervalMs` into
 * frames, kept in a short history and pushed to subscribers (the page's Server-Sent Events
 * stream). Other modules add their own panels (cache hit ratio per tier, pool usage, breaker
 * states) with {@link Dashboard.addPanel}.
 * @example
 * ```ts
 * const dashboard = new Dashboard({ requests, runtime, slo });
 * dashboard.addPanel({
 *   id: 'cache-hits', title: 'Cache hit ratio', unit: '%',
 *   series: [{ label: 'L1' }, { label: 'L2' }],
 *   sample: () => [cache.l1HitRatio * 100, cache.l2HitRatio * 100],
 * });
 * await app.register(fastifyDashboard, { dashboard });
 * ```
 */
export class Dashboard {
  /** Page title. */
  readonly title: string;
  /** Sampling interval in milliseconds. */
  readonly intervalMs: number;
  #panels = new Map<string, Panel>();
  #listeners = new Set<(event: DashboardEvent) => void>();
  #history: DashboardFrame[] = [];
  readonly #historyFrames: number;
  readonly #clock: { now(): number };
  #timer: NodeJS.Timeout | undefined;

  /** @throws {@link InvalidOptionError} `HP_ERR_INVALID_OPTION` on a bad option. */
  constructor(options: DashboardOptions = {}) {
    this.intervalMs = checkNumber('intervalMs', options.intervalMs ?? 1000, { min: 10 });
    this.#historyFrames = checkNumber('historyFrames', options.historyFrames ?? 300, {
      min: 0,
      integer: true,
    });
    this.title = checkString('title', options.title ?? 'hotpath');
    this.#clock = options.clock ?? Date;
    const windowMs = checkNumber('requestWindowMs', options.requestWindowMs ?? 5000, { min: 1 });
    if (options.requests !== undefined) {
      for (const p of requestPanels(options.requests, windowMs)) this.addPanel(p);
    }
    if (options.runtime !== undefined)
      for (const p of runtimePanels(options.runtime)) this.addPanel(p);
    if (options.slo !== undefined) this.addPanel(sloPanel(options.slo));
    this.#timer = setInterval(() => this.#tick(), this.intervalMs);
    this.#timer.unref();
  }

  /**
   * Adds a panel; pages already open receive it at once.
   * @throws {@link InvalidOptionError} `HP_ERR_INVALID_OPTION` on a bad or duplicate id.
   */
  addPanel(panel: Panel): void {
    const id = checkString('panel.id', panel?.id);
    if (!ID.test(id)) throw new InvalidOptionError('panel.id', `"${id}" must match ${ID}`);
    if (this.#panels.has(id)) throw new InvalidOptionError('panel.id', `"${id}" is taken`);
    checkString('panel.title', panel.title);
    if (panel.kind === 'links') {
      if (!Array.isArray(panel.links) || panel.links.length === 0) {
        throw new InvalidOptionError('panel.links', 'a links panel needs at least one link');
      }
      for (const link of panel.links) {
        checkString('panel.links[].label', link?.label);
        // Paths and http(s) URLs only: the page renders these as anchors.
        if (typeof link.href !== 'string' || !/^(\/(?!\/)|https?:\/\/)/.test(link.href)) {
          throw new InvalidOptionError(
            'panel.links[].href',
            `expected a path or http(s) URL, got ${JSON.stringify(link.href)}`,
          );
        }
      }
      this.#panels.set(id, {
        ...panel,
        links: panel.links.map((l) => ({ label: l.label, href: l.href })),
      });
      this.#emit({ type: 'panels', panels: this.panels() });
      return;
    }
    if (typeof panel.sample !== 'function') {
      throw new InvalidOptionError('panel.sample', 'expected a function');
    }
    if (panel.kind !== 'status' && (!Array.isArray(panel.series) || panel.series.length === 0)) {
      throw new InvalidOptionError('panel.series', 'a chart needs at least one series');
    }
    this.#panels.set(id, panel);
    this.#emit({ type: 'panels', panels: this.panels() });
  }

  /** Removes a panel by id; returns whether it was there. */
  removePanel(id: string): boolean {
    const removed = this.#panels.delete(id);
    if (removed) this.#emit({ type: 'panels', panels: this.panels() });
    return removed;
  }

  /** The panels as the page sees them. */
  panels(): PanelDefinition[] {
    return [...this.#panels.values()].map((p) =>
      p.kind === 'links'
        ? { id: p.id, title: p.title, kind: 'links' as const, links: p.links }
        : p.kind === 'status'
          ? { id: p.id, title: p.title, kind: 'status' as const }
          : {
              id: p.id,
              title: p.title,
              kind: 'chart' as const,
              unit: p.unit ?? '',
              series: p.series.map((s, i) => ({
                label: s.label,
                color: s.color ?? PALETTE[i % PALETTE.length]!,
              })),
            },
    );
  }

  /** Samples every panel now. A panel whose sampler throws is left out of the frame. */
  sample(): DashboardFrame {
    const values: DashboardFrame['values'] = {};
    for (const panel of this.#panels.values()) {
      if (panel.kind === 'links') continue;
      try {
        const v = panel.sample();
        values[panel.id] =
          panel.kind === 'status'
            ? (v as StatusItem[])
            : (v as number[]).map((x) => (Number.isFinite(x) ? round(x) : 0));
      } catch {
        // One broken panel must not take the dashboard down; its chart just gets no point.
      }
    }
    return { t: this.#clock.now(), values };
  }

  /** The recent frames, oldest first. */
  history(): DashboardFrame[] {
    return [...this.#history];
  }

  /** Calls `listener` with every new frame and panel change; returns the unsubscribe function. */
  subscribe(listener: (event: DashboardEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  /** Number of subscribers (open pages). */
  get subscribers(): number {
    return this.#listeners.size;
  }

  /** Stops sampling and drops subscribers. */
  async close(): Promise<void> {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#listeners.clear();
  }

  #tick(): void {
    const frame = this.sample();
    if (this.#historyFrames > 0) {
      this.#history.push(frame);
      if (this.#history.length > this.#historyFrames) this.#history.shift();
    }
    this.#emit({ type: 'frame', frame });
  }

  #emit(event: DashboardEvent): void {
    for (const listener of this.#listeners) listener(event);
  }
}

function round(x: number): number {
  const a = Math.abs(x);
  const digits = a >= 100 ? 1 : a >= 1 ? 3 : 6;
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** The request panels: requests/s, latency p50/p95/p99 (ms), error rate (%). */
export function requestPanels(requests: RequestMetrics, windowMs = 5000): ChartPanel[] {
  return [
    {
      id: 'requests',
      title: 'Requests per second',
      unit: 'req/s',
      series: [{ label: 'req/s' }],
      sample: () => [requests.recent(Math.min(2000, windowMs)).ratePerSecond],
    },
    {
      id: 'latency',
      title: `Latency (last ${windowMs / 1000} s)`,
      unit: 'ms',
      series: [{ label: 'p50' }, { label: 'p95' }, { label: 'p99' }],
      sample: () => {
        const h = requests.recent(windowMs).latency;
        return [h.percentile(50) / 1000, h.percentile(95) / 1000, h.percentile(99) / 1000];
      },
    },
    {
      id: 'errors',
      title: `Error rate (last ${windowMs / 1000} s)`,
      unit: '%',
      series: [{ label: 'errors', color: PALETTE[2]! }],
      sample: () => [requests.recent(windowMs).errorRate * 100],
    },
  ];
}

/** The runtime panels: event-loop delay and utilization, memory, GC pauses. */
export function runtimePanels(runtime: RuntimeMetrics): ChartPanel[] {
  let last = runtime.snapshot();
  let lastAt = 0;
  // Several panels per frame read the same snapshot.
  const snap = (): ReturnType<RuntimeMetrics['snapshot']> => {
    const now = performance.now();
    if (now - lastAt > 50) {
      last = runtime.snapshot();
      lastAt = now;
    }
    return last;
  };
  const MB = 1024 * 1024;
  return [
    {
      id: 'event-loop-delay',
      title: 'Event-loop delay (last 10 s)',
      unit: 'ms',
      series: [{ label: 'p50' }, { label: 'p99' }, { label: 'max' }],
      sample: () => {
        const d = snap().eventLoopDelay;
        return [d.p50, d.p99, d.max];
      },
    },
    {
      id: 'event-loop-utilization',
      title: 'Event-loop utilization (last 10 s)',
      unit: '%',
      series: [{ label: 'busy' }],
      sample: () => [snap().eventLoopUtilization * 100],
    },
    {
      id: 'memory',
      title: 'Memory',
      unit: 'MB',
      series: [
        { label: 'heap used' },
        { label: 'heap total' },
        { label: 'rss' },
        { label: 'external' },
      ],
      sample: () => {
        const s = snap();
        return [s.heapUsed / MB, s.heapTotal / MB, s.rss / MB, s.external / MB];
      },
    },
    {
      id: 'gc',
      title: 'GC pause (ms in the last 10 s)',
      unit: 'ms',
      series: [{ label: 'minor' }, { label: 'major' }, { label: 'incremental' }],
      sample: () => {
        const g = snap().gcPauseMs;
        return [g.minor, g.major, g.incremental];
      },
    },
  ];
}

/** The SLO status panel: one line per rule with its measured value. */
export function sloPanel(slo: SloMonitor): StatusPanel {
  return {
    id: 'slo',
    title: 'SLOs',
    kind: 'status',
    sample: () =>
      slo.status().map((s) => ({
        label: s.rule.expression,
        ok: s.ok,
        detail:
          s.value === undefined
            ? 'no traffic'
            : s.rule.subject.kind === 'error_rate'
              ? `${(s.value * 100).toFixed(2)} %`
              : s.rule.subject.kind === 'rate'
                ? `${s.value.toFixed(1)} req/s`
                : `${s.value.toFixed(2)} ms`,
      })),
  };
}
