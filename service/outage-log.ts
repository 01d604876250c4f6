/**
 * A log that writes one line per interval for a failure that hits every request (the
 * database down): the first report at once, then a count of what was not logged.
 */

/** How far down a `cause` chain {@link OutageLog} looks for the driver's message. */
const MAX_DEPTH = 8;

/** What an {@link OutageLog} writes: the latest reason, and how many reports it did not log. */
export interface OutageLine {
  /** The message and code of the error that was logged. */
  reason: string;
  code: string | undefined;
  /** Reports since the previous line that were counted, not logged. */
  suppressed: number;
}

/** Options of {@link OutageLog}. */
export interface OutageLogOptions {
  /** Writes one line. */
  write: (line: OutageLine) => void;
  /** At most one line per this many milliseconds. @defaultValue 10000 */
  intervalMs?: number;
  /** Monotonic clock in milliseconds. @defaultValue `performance.now` */
  now?: () => number;
}

/**
 * One log line per interval for an outage that fails every request: the first report is
 * logged at once, the next ones within `intervalMs` are only counted, and the first report
 * after the interval is logged with that count. No stack: it is the same for every request
 * and says nothing about the outage.
 */
export class OutageLog {
  readonly #write: (line: OutageLine) => void;
  readonly #intervalMs: number;
  readonly #now: () => number;
  #lastAt: number | undefined;
  #suppressed = 0;

  constructor(options: OutageLogOptions) {
    this.#write = options.write;
    this.#intervalMs = options.intervalMs ?? 10_000;
    this.#now = options.now ?? (() => performance.now());
  }

  /** Logs `error` unless a line was written less than `intervalMs` ago; counts it then. */
  report(error: unknown): void {
    const now = this.#now();
    if (this.#lastAt !== undefined && now - this.#lastAt < this.#intervalMs) {
      this.#suppressed++;
      return;
    }
    this.#lastAt = now;
    const suppressed = this.#suppressed;
    this.#suppressed = 0;
    this.#write({ ...describe(error), suppressed });
  }
}

/** The innermost message and code of the `cause` chain: the driver's words. */
function describe(error: unknown): { reason: string; code: string | undefined } {
  let reason = String(error);
  let code: string | undefined;
  let current: unknown = error;
  for (
    let depth = 0;
    depth <= MAX_DEPTH && typeof current === 'object' && current !== null;
    depth++
  ) {
    const fields = current as { message?: unknown; code?: unknown; cause?: unknown };
    if (typeof fields.message === 'string' && fields.message !== '') reason = fields.message;
    if (typeof fields.code === 'string') code = fields.code;
    current = fields.cause;
  }
  return { reason, code };
}
