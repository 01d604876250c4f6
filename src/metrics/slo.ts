import { EventEmitter } from 'node:events';
import { channel } from 'node:diagnostics_channel';
import { InvalidOptionError } from '../errors/index.js';
import { checkNumber } from '../internal/validate-options.js';
import { SloParseError } from './errors.js';
import type { RequestMetrics } from './request-metrics.js';

/** What a rule measures: a latency percentile, mean or max, the error rate or the request rate. */
export type SloSubject =
  | { kind: 'percentile'; p: number }
  | { kind: 'mean' }
  | { kind: 'max' }
  | { kind: 'error_rate' }
  | { kind: 'rate' };

/** A parsed SLO rule: `subject op threshold over windowMs` must hold. */
export interface SloRule {
  /** The rule as written. */
  expression: string;
  subject: SloSubject;
  op: '<' | '<=' | '>' | '>=';
  /** In milliseconds for latency, a fraction (0.01) for error_rate, requests/s for rate. */
  threshold: number;
  windowMs: number;
}

/** State of one rule after the latest evaluation. */
export interface SloStatus {
  rule: SloRule;
  /** Whether the objective holds. `true` until enough requests were seen. */
  ok: boolean;
  /** The measured value (same unit as the threshold); `undefined` without enough data. */
  value: number | undefined;
  /** Requests in the window. */
  requests: number;
  /** Clock time (ms) of the last change of `ok`. */
  since: number;
}

/** Payload of `breach` and `recovery` events. */
export interface SloEvent {
  type: 'breach' | 'recovery';
  rule: SloRule;
  value: number;
  threshold: number;
  at: number;
}

const UNITS_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const RULE =
  /^\s*(p\d+(?:\.\d+)?|mean|max|error_rate|rate)\s*(<=|>=|<|>)\s*(\d+(?:\.\d+)?)\s*(us|ms|s|%|rps)?\s*(?:over\s+(\d+(?:\.\d+)?)\s*(ms|s|m|h))?\s*$/;

/**
 * Parses an SLO rule: `p99 < 200ms over 1m`, `error_rate < 1% over 5m`, `mean <= 50ms`,
 * `rate > 10rps over 30s`. The window defaults to 1 minute.
 * @throws {@link SloParseError} `HP_ERR_METRICS_SLO_PARSE` on anything else.
 */
export function parseSloRule(expression: string): SloRule {
  if (typeof expression !== 'string') throw new SloParseError(String(expression), 'not a string');
  const m = RULE.exec(expression);
  if (m === null) {
    throw new SloParseError(
      expression,
      'expected "<p99|mean|max|error_rate|rate> <op> <number><unit> [over <n><ms|s|m|h>]"',
    );
  }
  const [, name, op, number, unit, windowNumber, windowUnit] = m;
  let subject: SloSubject;
  let threshold = Number(number);
  if (name!.startsWith('p')) {
    const p = Number(name!.slice(1));
    if (!(p > 0 && p <= 100))
      throw new SloParseError(expression, `percentile ${p} out of (0, 100]`);
    subject = { kind: 'percentile', p };
  } else subject = { kind: name as 'mean' | 'max' | 'error_rate' | 'rate' };
  if (subject.kind === 'error_rate') {
    if (unit === '%') threshold /= 100;
    else if (unit !== undefined)
      throw new SloParseError(expression, 'error_rate takes % or no unit');
  } else if (subject.kind === 'rate') {
    if (unit !== undefined && unit !== 'rps') throw new SloParseError(expression, 'rate takes rps');
  } else {
    if (unit === undefined || unit === '%' || unit === 'rps') {
      throw new SloParseError(expression, 'a latency needs a unit: us, ms or s');
    }
    threshold *= UNITS_MS[unit]!;
  }
  const windowMs =
    windowNumber === undefined ? 60_000 : Number(windowNumber) * UNITS_MS[windowUnit!]!;
  return { expression: expression.trim(), subject, op: op as SloRule['op'], threshold, windowMs };
}

/** Options of {@link SloMonitor}. */
export interface SloMonitorOptions {
  /** Rules as expressions (see {@link parseSloRule}) or parsed. */
  rules: ReadonlyArray<string | SloRule>;
  /** Where the request figures come from. */
  requests: RequestMetrics;
  /** How often rules are evaluated, in milliseconds; 0 for never (call `evaluate()`). @defaultValue 1000 */
  intervalMs?: number;
  /** Fewer requests than this in a window leave the rule's state unchanged. @defaultValue 1 */
  minRequests?: number;
  /** Clock for `since` and `at`, in milliseconds. @defaultValue `Date` */
  clock?: { now(): number };
}

const sloChannel = channel('hotpath:metrics:slo');

/**
 * Evaluates SLO rules over the recent request history and emits `breach` when a rule stops
 * holding and `recovery` when it holds again (each a {@link SloEvent}; also published on the
 * `hotpath:metrics:slo` diagnostics channel).
 * @example
 * ```ts
 * const slo = new SloMonitor({ requests, rules: ['p99 < 200ms over 1m', 'error_rate < 1% over 5m'] });
 * slo.on('breach', (e) => log.warn(e, 'SLO breached'));
 * ```
 */
export class SloMonitor extends EventEmitter<{ breach: [SloEvent]; recovery: [SloEvent] }> {
  readonly #requests: RequestMetrics;
  readonly #status: SloStatus[];
  readonly #minRequests: number;
  readonly #clock: { now(): number };
  readonly #timer: NodeJS.Timeout | undefined;

  /**
   * @throws {@link SloParseError} `HP_ERR_METRICS_SLO_PARSE` on a bad rule.
   * @throws {@link InvalidOptionError} `HP_ERR_INVALID_OPTION` on a bad option, or a rule
   * window longer than the request history.
   */
  constructor(options: SloMonitorOptions) {
    super();
    if (options?.requests === undefined || typeof options.requests.recent !== 'function') {
      throw new InvalidOptionError('requests', 'expected a RequestMetrics');
    }
    if (!Array.isArray(options.rules)) throw new InvalidOptionError('rules', 'expected an array');
    this.#requests = options.requests;
    this.#clock = options.clock ?? Date;
    this.#minRequests = checkNumber('minRequests', options.minRequests ?? 1, { min: 0 });
    const now = this.#clock.now();
    this.#status = options.rules.map((r) => {
      const rule = typeof r === 'string' ? parseSloRule(r) : r;
      if (rule.windowMs > this.#requests.historyMs) {
        throw new InvalidOptionError(
          'rules',
          `"${rule.expression}" looks back ${rule.windowMs} ms but the request history keeps ${this.#requests.historyMs} ms (RequestMetrics historyMs)`,
        );
      }
      return { rule, ok: true, value: undefined, requests: 0, since: now };
    });
    const intervalMs = checkNumber('intervalMs', options.intervalMs ?? 1000, { min: 0 });
    if (intervalMs > 0) {
      this.#timer = setInterval(() => this.evaluate(), intervalMs);
      this.#timer.unref();
    }
  }

  /** Evaluates every rule now, emits events for changes, and returns the states. */
  evaluate(): SloStatus[] {
    const now = this.#clock.now();
    for (const status of this.#status) {
      const { rule } = status;
      const recent = this.#requests.recent(rule.windowMs);
      status.requests = recent.requests;
      if (recent.requests < this.#minRequests || recent.requests === 0) {
        status.value = undefined;
        continue;
      }
      const value = measure(rule.subject, recent);
      status.value = value;
      const ok = holds(value, rule.op, rule.threshold);
      if (ok === status.ok) continue;
      status.ok = ok;
      status.since = now;
      const event: SloEvent = {
        type: ok ? 'recovery' : 'breach',
        rule,
        value,
        threshold: rule.threshold,
        at: now,
      };
      if (sloChannel.hasSubscribers) sloChannel.publish(event);
      this.emit(event.type, event);
    }
    return this.status();
  }

  /** The states of the latest evaluation (copies). */
  status(): SloStatus[] {
    return this.#status.map((s) => ({ ...s }));
  }

  /** Stops periodic evaluation. */
  async close(): Promise<void> {
    if (this.#timer !== undefined) clearInterval(this.#timer);
  }
}

function measure(subject: SloSubject, recent: ReturnType<RequestMetrics['recent']>): number {
  switch (subject.kind) {
    case 'percentile':
      return recent.latency.percentile(subject.p) / 1000;
    case 'mean':
      return recent.latency.mean / 1000;
    case 'max':
      return recent.latency.max / 1000;
    case 'error_rate':
      return recent.errorRate;
    case 'rate':
      return recent.ratePerSecond;
  }
}

function holds(value: number, op: SloRule['op'], threshold: number): boolean {
  switch (op) {
    case '<':
      return value < threshold;
    case '<=':
      return value <= threshold;
    case '>':
      return value > threshold;
    case '>=':
      return value >= threshold;
  }
}
