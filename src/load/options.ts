/**
 * The options of a load test and their checks. Everything here is plain data, so the same
 * options can be sent to worker threads.
 */
import { InvalidOptionError } from '../errors/index.js';
import { checkNumber } from '../internal/validate-options.js';
import type { RequestMix } from './request-mix.js';
import { validateMix } from './request-mix.js';

/** One ramp stage: move the arrival rate linearly to `rate` over `durationMs`. */
export interface Stage {
  durationMs: number;
  /** Target rate at the end of the stage (requests/s). */
  rate: number;
}

/** Options of {@link load}. */
export interface LoadOptions {
  /** `http://` or `https://` URL; with a request mix, its origin is the target. */
  url: string;
  /**
   * Closed model: connections kept busy. Open model: the most connections opened as needed.
   * @defaultValue 10 (closed), 100 (open)
   */
  connections?: number;
  /** Measured duration (after warm-up). @defaultValue 10000 unless `requests` or `stages` is set */
  durationMs?: number;
  /** Stop after this many requests have been sent (and answered or failed). */
  requests?: number;
  /** Arrival rate in requests/s: selects the open model. */
  rate?: number;
  /** Ramp stages (open model); the run lasts their total duration. */
  stages?: Stage[];
  /** Closed model: requests in flight per connection. @defaultValue 1 */
  pipelining?: number;
  /** @defaultValue "GET" */
  method?: string;
  /** Headers of every request. */
  headers?: Record<string, string>;
  /** Body of every request (single-URL mode). */
  body?: string;
  /** Weighted request templates; replaces method, path and body. */
  mix?: RequestMix;
  /** Traffic sent before measuring, discarded. @defaultValue 0 */
  warmupMs?: number;
  /** Per-request timeout from the actual send. @defaultValue 10000 */
  timeoutMs?: number;
  /** Worker threads sharing the load (connections and rate split evenly). @defaultValue 1 */
  workers?: number;
  /** Verify the server's TLS certificate. @defaultValue true */
  rejectUnauthorized?: boolean;
  /** Seed for placeholders' randomness (reproducible mixes); random when absent. */
  seed?: number;
  /**
   * Wall-clock time to start at, in milliseconds since the Unix epoch (`Date.parse(...)`): the
   * run (warm-up first) waits until then, so generators on several machines start together.
   * A time already past starts at once. @defaultValue start at once
   */
  startAt?: number;
}

/** Options after checks and defaults. */
export interface ResolvedOptions {
  url: URL;
  model: 'open' | 'closed';
  connections: number;
  durationMs: number;
  requests: number;
  rate: number | null;
  stages: Stage[];
  pipelining: number;
  method: string;
  headers: Record<string, string>;
  body: string | null;
  mix: RequestMix | null;
  warmupMs: number;
  timeoutMs: number;
  workers: number;
  rejectUnauthorized: boolean;
  seed: number | null;
  startAt: number | null;
}

/**
 * Checks options and fills defaults.
 * @throws {@link InvalidOptionError} `HP_ERR_INVALID_OPTION` naming the faulty option.
 */
export function resolveOptions(o: LoadOptions): ResolvedOptions {
  if (typeof o !== 'object' || o === null)
    throw new InvalidOptionError('options', 'expected an object');
  let url: URL;
  try {
    url = new URL(o.url);
  } catch (error) {
    throw new InvalidOptionError('url', `not a URL: ${JSON.stringify(o.url)}`, { cause: error });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new InvalidOptionError('url', `expected http:// or https://, got ${url.protocol}`);
  }
  const stages = (o.stages ?? []).map((s, i) => ({
    durationMs: checkNumber(`stages[${i}].durationMs`, s.durationMs, { min: 1 }),
    rate: checkNumber(`stages[${i}].rate`, s.rate, { min: 0 }),
  }));
  if (o.rate !== undefined) checkNumber('rate', o.rate, { min: Number.MIN_VALUE });
  const model = o.rate !== undefined || stages.length > 0 ? 'open' : 'closed';
  if (o.requests !== undefined) checkNumber('requests', o.requests, { min: 1, integer: true });
  const stagesMs = stages.reduce((t, s) => t + s.durationMs, 0);
  const durationMs =
    o.durationMs !== undefined
      ? checkNumber('durationMs', o.durationMs, { min: 1 })
      : stages.length > 0
        ? stagesMs
        : o.requests !== undefined
          ? Infinity
          : 10_000;
  const pipelining = checkNumber('pipelining', o.pipelining ?? 1, {
    min: 1,
    max: 1024,
    integer: true,
  });
  if (model === 'open' && pipelining !== 1) {
    throw new InvalidOptionError(
      'pipelining',
      'only the closed model pipelines (drop rate/stages)',
    );
  }
  const workers = checkNumber('workers', o.workers ?? 1, { min: 1, max: 256, integer: true });
  const connections = checkNumber('connections', o.connections ?? (model === 'open' ? 100 : 10), {
    min: workers,
    max: 100_000,
    integer: true,
  });
  const method = (o.method ?? 'GET').toUpperCase();
  if (!/^[A-Z]+$/.test(method))
    throw new InvalidOptionError('method', `not an HTTP method: ${o.method}`);
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(o.headers ?? {})) {
    if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(k))
      throw new InvalidOptionError('headers', `bad header name ${JSON.stringify(k)}`);
    if (typeof v !== 'string' || /[\r\n]/.test(v))
      throw new InvalidOptionError('headers', `bad value for header ${k}`);
    headers[k] = v;
  }
  if (o.body !== undefined && typeof o.body !== 'string')
    throw new InvalidOptionError('body', 'expected a string');
  return {
    url,
    model,
    connections,
    durationMs,
    requests: o.requests ?? Infinity,
    rate: o.rate ?? (stages.length > 0 ? stages[stages.length - 1]!.rate : null),
    stages: stages.length > 0 ? stages : o.rate !== undefined ? [] : [],
    pipelining,
    method,
    headers,
    body: o.body ?? null,
    mix: o.mix === undefined ? null : validateMix(o.mix),
    warmupMs: checkNumber('warmupMs', o.warmupMs ?? 0, { min: 0 }),
    timeoutMs: checkNumber('timeoutMs', o.timeoutMs ?? 10_000, { min: 1 }),
    workers,
    rejectUnauthorized: o.rejectUnauthorized ?? true,
    seed: o.seed === undefined ? null : checkNumber('seed', o.seed, { integer: true }),
    startAt: o.startAt === undefined ? null : checkNumber('startAt', o.startAt, { min: 0 }),
  };
}

/**
 * The open model's target rate `t` ms after the run (warm-up included) began: the constant
 * `rate`, or a linear ramp per stage from the previous stage's rate (0 before the first) to
 * the stage's own. Warm-up runs at the first stage's rate.
 */
export function rateAt(o: ResolvedOptions, t: number): number {
  if (o.stages.length === 0) return o.rate ?? 0;
  let from = 0;
  let at = t - o.warmupMs;
  if (at < 0) return o.stages[0]!.rate;
  for (const s of o.stages) {
    if (at < s.durationMs) return from + ((s.rate - from) * at) / s.durationMs;
    at -= s.durationMs;
    from = s.rate;
  }
  return from;
}

/** The options one of `n` workers runs with: an even share of connections, rate and count. */
export function shareFor(o: ResolvedOptions, index: number, n: number): ResolvedOptions {
  const part = (total: number) => Math.floor(total / n) + (index < total % n ? 1 : 0);
  return {
    ...o,
    workers: 1,
    connections: part(o.connections),
    requests: Number.isFinite(o.requests) ? part(o.requests) : Infinity,
    rate: o.rate === null ? null : o.rate / n,
    stages: o.stages.map((s) => ({ durationMs: s.durationMs, rate: s.rate / n })),
    seed: o.seed === null ? null : o.seed + index,
  };
}

/** A stretch of the schedule with a linearly changing rate. */
interface Segment {
  /** Start, ms since the run (warm-up included) began. */
  start: number;
  durationMs: number;
  /** Rates at its start and end, requests per ms. */
  from: number;
  to: number;
  /** Arrivals before the segment. */
  before: number;
}

/**
 * The open model's schedule: `at(k)` is the intended send time of the k-th request (0-based),
 * in ms since the run began, or Infinity when the schedule has ended. It inverts the
 * cumulative arrival count of {@link rateAt}, so a ramp from 0 starts sending at once and times
 * never drift the way summing 1/rate steps would.
 */
export class Schedule {
  readonly #segments: Segment[] = [];

  constructor(o: ResolvedOptions) {
    const perMs = (r: number) => r / 1000;
    let start = 0;
    let before = 0;
    const push = (durationMs: number, from: number, to: number) => {
      this.#segments.push({ start, durationMs, from: perMs(from), to: perMs(to), before });
      start += durationMs;
      before += ((perMs(from) + perMs(to)) / 2) * durationMs;
    };
    if (o.stages.length === 0) {
      push(Infinity, o.rate ?? 0, o.rate ?? 0);
      return;
    }
    if (o.warmupMs > 0) push(o.warmupMs, o.stages[0]!.rate, o.stages[0]!.rate);
    let from = 0;
    for (const stage of o.stages) {
      push(stage.durationMs, from, stage.rate);
      from = stage.rate;
    }
    push(Infinity, from, from);
  }

  /** Intended send time of request `k`, ms since the run began. */
  at(k: number): number {
    for (const seg of this.#segments) {
      const m = k - seg.before;
      const slope = seg.durationMs === Infinity ? 0 : (seg.to - seg.from) / seg.durationMs;
      const inSegment =
        seg.durationMs === Infinity
          ? seg.from > 0
          : seg.before + ((seg.from + seg.to) / 2) * seg.durationMs > k;
      if (!inSegment) continue;
      if (m <= 0) return seg.start;
      // Solve from*x + slope*x^2/2 = m in the form that stays exact for slope near 0.
      const root = Math.sqrt(Math.max(0, seg.from * seg.from + 2 * slope * m));
      const x = (2 * m) / (seg.from + root);
      return seg.start + x;
    }
    return Infinity;
  }
}
