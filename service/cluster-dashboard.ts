/**
 * The dashboard of a cluster: whichever worker serves /dashboard shows the whole service and
 * each worker. Every second each worker sends the primary its recent requests (count and
 * latency histogram over the last 2 s); the primary sends every worker the view of all of
 * them: requests per second and latency p99 per worker, and for the whole (rates summed,
 * histograms merged exactly before the percentile is read).
 */
import { Histogram, type HistogramSnapshot, type RequestMetrics } from 'hotpath/metrics';
import type { Dashboard } from 'hotpath/metrics';

const RECENT = 'hotpath:cluster:recent';
const VIEW = 'hotpath:cluster:view';
const WINDOW_MS = 2000;
const INTERVAL_MS = 1000;
/** A worker whose figures are older than this is shown as a gap. */
const MAX_AGE_MS = 5000;

interface RecentMessage {
  type: typeof RECENT;
  slot: number;
  requests: number;
  windowMs: number;
  latency: HistogramSnapshot;
}

/** Requests per second and p99 in milliseconds; `null` when unknown. */
interface Figures {
  rps: number | null;
  p99Ms: number | null;
}

interface ViewMessage {
  type: typeof VIEW;
  all: Figures;
  /** Index slot - 1. */
  workers: Figures[];
}

/** What the view needs of a cluster worker. */
export interface ViewWorker {
  on(event: 'message', listener: (message: unknown) => void): unknown;
  off(event: 'message', listener: (message: unknown) => void): unknown;
  once(event: 'exit', listener: () => void): unknown;
  isConnected(): boolean;
  send(message: object, handle: undefined, callback: (error: Error | null) => void): boolean;
}

/** In the primary: gathers the workers' recent figures and sends every worker the view. */
export class ClusterView {
  readonly #latest = new Map<number, { message: RecentMessage; at: number }>();
  readonly #workers = new Set<ViewWorker>();
  readonly #count: number;
  readonly #timer: NodeJS.Timeout;
  readonly #clock: { now(): number };

  constructor(workers: number, clock: { now(): number } = Date) {
    this.#count = workers;
    this.#clock = clock;
    this.#timer = setInterval(() => this.#broadcast(), INTERVAL_MS);
    this.#timer.unref();
  }

  /** Listens to a worker's figures and sends it the view, until it exits. */
  watch(worker: ViewWorker): void {
    this.#workers.add(worker);
    const onMessage = (message: unknown): void => {
      const m = message as Partial<RecentMessage> | null;
      if (m === null || typeof m !== 'object' || m.type !== RECENT) return;
      if (!Number.isInteger(m.slot) || m.latency === undefined) return;
      this.#latest.set(m.slot!, { message: m as RecentMessage, at: this.#clock.now() });
    };
    worker.on('message', onMessage);
    worker.once('exit', () => {
      worker.off('message', onMessage);
      this.#workers.delete(worker);
    });
  }

  /** The view as it would be sent now. */
  view(): ViewMessage {
    const now = this.#clock.now();
    const workers: Figures[] = [];
    let all: Histogram | undefined;
    let rps = 0;
    let known = 0;
    for (let slot = 1; slot <= this.#count; slot++) {
      const latest = this.#latest.get(slot);
      if (latest === undefined || now - latest.at > MAX_AGE_MS) {
        workers.push({ rps: null, p99Ms: null });
        continue;
      }
      const { requests, windowMs, latency } = latest.message;
      const h = Histogram.fromSnapshot(latency);
      const own = requests / Math.max(windowMs / 1000, 0.001);
      workers.push({ rps: own, p99Ms: h.count === 0 ? null : h.percentile(99) / 1000 });
      rps += own;
      known++;
      if (all === undefined) all = h;
      else all.merge(h);
    }
    return {
      type: VIEW,
      all: {
        rps: known === 0 ? null : rps,
        p99Ms: all === undefined || all.count === 0 ? null : all.percentile(99) / 1000,
      },
      workers,
    };
  }

  /** Stops sending. */
  async close(): Promise<void> {
    clearInterval(this.#timer);
  }

  #broadcast(): void {
    const view = this.view();
    for (const worker of this.#workers) {
      if (worker.isConnected()) worker.send(view, undefined, () => {});
    }
  }
}

/**
 * In a worker: sends its recent figures to the primary every second and adds two dashboard
 * panels fed by the primary's view: requests per second and p99 latency, for the whole and
 * for each worker. Returns the function that stops.
 */
export function clusterPanels(
  options: { requests: RequestMetrics; dashboard: Dashboard },
  slot: number,
  workers: number,
): () => void {
  let view: ViewMessage | undefined;
  const onMessage = (m: Partial<ViewMessage> | null): void => {
    if (m !== null && typeof m === 'object' && m.type === VIEW) view = m as ViewMessage;
  };
  process.on('message', onMessage);
  const send = (): void => {
    const recent = options.requests.recent(WINDOW_MS);
    const message: RecentMessage = {
      type: RECENT,
      slot,
      requests: recent.requests,
      windowMs: recent.windowMs,
      latency: recent.latency.snapshot(),
    };
    process.send?.(message, undefined, {}, () => {});
  };
  const timer = setInterval(send, INTERVAL_MS);
  timer.unref();
  const series = [
    { label: 'all' },
    ...Array.from({ length: workers }, (_, i) => ({ label: `worker ${i + 1}` })),
  ];
  // Missing figures (a worker starting, or frozen) are NaN, which the dashboard draws as 0.
  const values = (pick: (f: Figures) => number | null): number[] =>
    view === undefined
      ? series.map(() => NaN)
      : [view.all, ...view.workers].map((f) => pick(f) ?? NaN);
  options.dashboard.addPanel({
    id: 'cluster-rate',
    title: 'Requests per second, whole service and each worker',
    unit: 'req/s',
    series,
    sample: () => values((f) => f.rps),
  });
  options.dashboard.addPanel({
    id: 'cluster-p99',
    title: 'Latency p99, whole service and each worker',
    unit: 'ms',
    series,
    sample: () => values((f) => f.p99Ms),
  });
  return () => {
    clearInterval(timer);
    process.off('message', onMessage);
  };
}
