import type { Clock } from '../internal/clock.js';
import type { StoppableContext } from './policy.js';

/**
 * The deadlines of one policy's calls, all of one length, kept with one timer and without a
 * clock read per call. It is what makes a {@link Timeout} (and a Retry's `deadlineMs`) cheap
 * on the success path, where almost every call settles long before its deadline.
 *
 * Deadlines of equal length expire in the order they were set, so the queue is a FIFO linked
 * list (Node keeps its timer lists per duration the same way) and the timer only ever needs
 * to be due at the head's deadline. A call that settles in time is only marked: dropped at
 * once when it is the head, later when the head gets to it.
 *
 * Reading the clock costs about as much as a bare `await` (45 ns on the 2-core development
 * VM, Node 20), so calls are stamped by period: the first call after a quiet spell reads the
 * clock and gets its exact deadline, and opens a period of `resolution` ms (1 to 10 ms: a
 * hundredth of the length); calls that arrive while the period is open are stamped when it
 * closes, with the time it closes. A start time is thus never taken as earlier than it was,
 * so no deadline passes early; one passes at most `resolution` ms (plus event-loop lag) late.
 *
 * ```
 *   clock read        period (resolution ms)       timer: period closes, clock read
 *       |<------------------------------------------>|
 *   [exact t0] -> [settled] -> [unstamped] -> [unstamped]  ==> both stamped t1 + length
 * ```
 *
 * When nothing is pending the timer is unref'd (it no longer holds the process open), left
 * to run out and not re-armed; the next call refs it again. Sequential calls thus cost a list
 * append and a ref/unref pair, not a clock read and a setTimeout/clearTimeout pair
 * (bench/resilience/compose.bench.ts).
 */
export class DeadlineQueue {
  readonly #lengthMs: number;
  readonly #resolutionMs: number;
  readonly #clock: Clock;
  #head: StoppableContext | undefined = undefined;
  #tail: StoppableContext | undefined = undefined;
  /** First entry added in the open period, not stamped yet. */
  #firstUnstamped: StoppableContext | undefined = undefined;
  #isPeriodOpen = false;
  #periodEndsAt = 0;
  #timer: ReturnType<typeof setTimeout> | undefined = undefined;
  /** When the armed timer is due, on the clock. */
  #timerDueAt = 0;
  #isRefed = false;
  #isFiring = false;

  constructor(lengthMs: number, clock: Clock) {
    this.#lengthMs = lengthMs;
    this.#resolutionMs = Math.min(10, Math.max(1, lengthMs / 100));
    this.#clock = clock;
  }

  /** Appends `entry`; `entry.expire()` runs once its deadline, the length from now, passes. */
  add(entry: StoppableContext): void {
    if (this.#tail === undefined) this.#head = entry;
    else this.#tail.nextDeadline = entry;
    this.#tail = entry;
    if (this.#isPeriodOpen) {
      entry.expiresAt = Infinity;
      this.#firstUnstamped ??= entry;
      // An open period has its timer armed.
      if (!this.#isRefed) this.#ref();
      return;
    }
    const now = this.#clock.now();
    entry.expiresAt = now + this.#lengthMs;
    this.#isPeriodOpen = true;
    this.#periodEndsAt = now + this.#resolutionMs;
    if (this.#isFiring) return; // #onTimer arms the timer when done.
    if (this.#timer === undefined || this.#timerDueAt > this.#periodEndsAt) {
      clearTimeout(this.#timer);
      this.#arm(now, this.#periodEndsAt);
    } else if (!this.#isRefed) {
      this.#ref();
    }
  }

  /** Marks `entry` settled: it will not expire. */
  settle(entry: StoppableContext): void {
    entry.settled = true;
    if (entry !== this.#head) return;
    let head: StoppableContext | undefined = entry;
    while (head !== undefined && head.settled) head = head.nextDeadline;
    this.#head = head;
    if (head === undefined) {
      this.#tail = undefined;
      this.#firstUnstamped = undefined;
      if (this.#isRefed) {
        this.#timer?.unref();
        this.#isRefed = false;
      }
    }
  }

  /** Milliseconds until `entry`'s deadline (stamping it now if its period is still open). */
  timeLeftMs(entry: StoppableContext): number {
    const now = this.#clock.now();
    if (entry.expiresAt === Infinity) this.#stamp(now);
    return entry.expiresAt - now;
  }

  /** Closes the open period: its entries get `now` as their start. */
  #stamp(now: number): void {
    const expiresAt = now + this.#lengthMs;
    for (let e = this.#firstUnstamped; e !== undefined; e = e.nextDeadline) e.expiresAt = expiresAt;
    this.#firstUnstamped = undefined;
    this.#isPeriodOpen = false;
  }

  #ref(): void {
    this.#timer?.ref();
    this.#isRefed = true;
  }

  #arm(now: number, dueAt: number): void {
    this.#timerDueAt = dueAt;
    // At least 1 ms: a timer due "now" by the clock may fire a fraction early by libuv's.
    this.#timer = setTimeout(this.#onTimer, Math.max(1, Math.ceil(dueAt - now)));
    this.#isRefed = true;
  }

  readonly #onTimer = (): void => {
    this.#timer = undefined;
    this.#isRefed = false;
    // A timer fires only once its delay has passed, so its due time is a floor for now. This
    // keeps expiry exact under mocked timers whose clock did not move with them.
    const now = Math.max(this.#clock.now(), this.#timerDueAt);
    if (this.#isPeriodOpen) this.#stamp(now);
    this.#isFiring = true;
    try {
      // Re-read the head each turn: expire() aborts signals, and their listeners may start
      // new calls through this queue.
      for (let head = this.#head; head !== undefined; head = this.#head) {
        if (!head.settled && head.expiresAt > now) break;
        this.#head = head.nextDeadline;
        if (this.#head === undefined) this.#tail = undefined;
        if (!head.settled) {
          head.settled = true;
          head.expire();
        }
      }
    } finally {
      this.#isFiring = false;
    }
    if (this.#head === undefined) {
      this.#tail = undefined;
      this.#firstUnstamped = undefined;
      this.#isPeriodOpen = false;
      return;
    }
    // The head is stamped, or was added by expire() in a period opened since.
    let dueAt = this.#head.expiresAt;
    if (this.#isPeriodOpen) dueAt = Math.min(dueAt, this.#periodEndsAt);
    this.#arm(now, dueAt);
  };
}
