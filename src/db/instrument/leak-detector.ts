import type { Clock } from '../../internal/clock.js';
import { appFrames } from './call-site.js';
import { dbChannels } from './channels.js';

/** A client held past the leak threshold. */
export interface LeakReport {
  heldMs: number;
  /** Application frames of the stack that acquired it, innermost first. */
  acquiredAt: string[];
  /** The full stack that acquired it. */
  stack: string;
}

interface Held {
  since: number;
  site: Error;
  reported: boolean;
}

/**
 * Remembers when and where (an `Error` made at checkout: its stack is formatted only if
 * reported) each checked-out client was acquired, and reports those held past `thresholdMs`.
 */
export class LeakDetector<Client extends object> {
  readonly #thresholdMs: number;
  readonly #clock: Clock;
  readonly #onLeak: ((report: LeakReport) => void) | undefined;
  readonly #held = new Map<Client, Held>();
  readonly #warnedSites = new Set<string>();
  readonly #timer: NodeJS.Timeout | undefined;

  /** `thresholdMs` 0 turns detection off. The check runs on an unref'd timer. */
  constructor(thresholdMs: number, clock: Clock, onLeak?: (report: LeakReport) => void) {
    this.#thresholdMs = thresholdMs;
    this.#clock = clock;
    this.#onLeak = onLeak;
    if (thresholdMs > 0) {
      const every = Math.min(Math.max(thresholdMs / 2, 100), 10_000);
      this.#timer = setInterval(() => this.check(), every);
      this.#timer.unref();
    }
  }

  /** Whether detection is on. */
  get enabled(): boolean {
    return this.#thresholdMs > 0;
  }

  /** Notes that `client` was checked out now, at `site`. */
  track(client: Client, site: Error): void {
    this.#held.set(client, { since: this.#clock.now(), site, reported: false });
  }

  /** Notes that `client` came back (or left the pool). */
  release(client: Client): void {
    this.#held.delete(client);
  }

  /** Clients held past the threshold right now. */
  count(): number {
    if (!this.enabled) return 0;
    const now = this.#clock.now();
    let n = 0;
    for (const held of this.#held.values()) if (now - held.since >= this.#thresholdMs) n++;
    return n;
  }

  /** How long the longest-held client has been out, and its first application frame. */
  oldest(): { heldMs: number; site: string } | undefined {
    let oldest: Held | undefined;
    for (const held of this.#held.values()) {
      if (oldest === undefined || held.since < oldest.since) oldest = held;
    }
    if (oldest === undefined) return undefined;
    return {
      heldMs: this.#clock.now() - oldest.since,
      site: appFrames(oldest.site.stack)[0] ?? '(unknown)',
    };
  }

  /** Reports (once each) the clients held past the threshold. */
  check(): LeakReport[] {
    if (!this.enabled) return [];
    const now = this.#clock.now();
    const found: LeakReport[] = [];
    for (const held of this.#held.values()) {
      if (held.reported || now - held.since < this.#thresholdMs) continue;
      held.reported = true;
      const stack = held.site.stack ?? '';
      const report: LeakReport = { heldMs: now - held.since, acquiredAt: appFrames(stack), stack };
      found.push(report);
      if (dbChannels.leak.hasSubscribers) dbChannels.leak.publish(report);
      if (this.#onLeak !== undefined) this.#onLeak(report);
      else {
        const site = report.acquiredAt[0] ?? '(unknown)';
        if (!this.#warnedSites.has(site)) {
          this.#warnedSites.add(site);
          process.emitWarning(
            `a pg client has been checked out for ${Math.round(report.heldMs)} ms without release(); acquired at ${report.acquiredAt.join(' <- ') || stack}`,
            { code: 'HP_WARN_DB_CLIENT_LEAK' },
          );
        }
      }
    }
    return found;
  }

  /** Stops the timer and forgets every client. */
  close(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#held.clear();
  }
}
