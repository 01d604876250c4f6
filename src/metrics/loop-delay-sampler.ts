import { createHook } from 'node:async_hooks';
import { performance } from 'node:perf_hooks';
import type { Clock } from '../internal/clock.js';

/** The timer functions a {@link LoopDelaySampler} runs on; tests inject counting ones. */
export interface SamplerTimers {
  setInterval(callback: () => void, ms: number): unknown;
  clearInterval(handle: unknown): void;
}

/**
 * Calls back once, at the start of the next callback the event loop runs (I/O, timer,
 * immediate, promise reaction), after {@link ActivityWatch.arm}.
 */
export interface ActivityWatch {
  arm(onActive: () => void): void;
  disarm(): void;
}

/** Options of {@link LoopDelaySampler}. */
export interface LoopDelaySamplerOptions {
  /** Period of the sampling timer while the loop is active, in milliseconds. */
  resolutionMs: number;
  /** Idle time after which the timer stops, in milliseconds; 0 keeps it running. */
  idleAfterMs: number;
  /** Receives each sample: how late the timer fired, in microseconds (at least 1), and when. */
  onSample(delayMicros: number, at: number): void;
  /** Called when the timer stops (parks) and when it runs again, with the clock's time. */
  onPark?(at: number): void;
  onResume?(at: number): void;
  clock: Clock;
  /** @defaultValue the global `setInterval` / `clearInterval`, the timer unref'd */
  timers?: SamplerTimers;
  /** @defaultValue {@link asyncActivityWatch} */
  activity?: ActivityWatch;
  /** Milliseconds the event loop has been busy since it started. @defaultValue ELU `active` */
  busyMs?: () => number;
}

/**
 * A tick counts as idle when the loop was busy for at most this share of the time since the
 * previous tick: the tick itself and libuv's turn cost well under it.
 */
const IDLE_BUSY_SHARE = 0.05;

/**
 * {@link BRIEF_PARKS} parks in a row that each end within {@link BRIEF_PARK_PERIODS} periods
 * mean something else wakes the loop that often (another 10 ms sampler, steady traffic): the
 * timer then stays on for {@link STAY_PERIODS} periods before it may park again. Each park and
 * resume switches the async hook and V8's promise hooks on and off, which costs more than ticks
 * that share the other wake-ups; one brief park alone is two timers firing close together.
 */
const BRIEF_PARK_PERIODS = 4;
const BRIEF_PARKS = 3;
const STAY_PERIODS = 100;

const globalTimers: SamplerTimers = {
  setInterval(callback, ms) {
    const timer = setInterval(callback, ms);
    timer.unref();
    return timer;
  },
  clearInterval(handle) {
    clearInterval(handle as NodeJS.Timeout);
  },
};

const eluBusyMs = (): number => performance.eventLoopUtilization().active;

/**
 * An {@link ActivityWatch} on `async_hooks`: a hook whose `before` callback runs ahead of
 * every callback the loop makes into JavaScript, enabled only while armed, so a busy loop
 * pays nothing for it.
 */
export function asyncActivityWatch(): ActivityWatch {
  let onActive: (() => void) | undefined;
  const hook = createHook({
    before() {
      const callback = onActive;
      if (callback === undefined) return;
      onActive = undefined;
      hook.disable();
      callback();
    },
  });
  return {
    arm(callback) {
      onActive = callback;
      hook.enable();
    },
    disarm() {
      onActive = undefined;
      hook.disable();
    },
  };
}

/**
 * Samples event-loop delay as the lateness of a periodic timer, and stops that timer while the
 * loop has nothing else to do.
 *
 * ```
 *   active:  tick  tick  tick  tick (idle) tick (idle, idleAfterMs reached) -> park
 *   parked:  no timer; an activity watch waits for the next callback of the loop
 *   any callback (request, timer, I/O) -> resume: the timer runs again from now
 * ```
 *
 * A stall can only happen while some callback runs, and the first callback after a park
 * resumes the timer before its own code runs, so a callback that blocks the loop for 200 ms
 * makes the next tick fire about 200 ms late, parked or not. An idle process is woken only by
 * its other timers and sockets, and each such wake-up costs the sampler one tick. When those
 * keep waking the loop within a few periods of each park, parking would cost more than it saves:
 * the timer then stays on (its ticks fall in the same wake-ups as a timer of the same period).
 */
export class LoopDelaySampler {
  readonly #o: LoopDelaySamplerOptions;
  readonly #timers: SamplerTimers;
  readonly #activity: ActivityWatch;
  readonly #busyMs: () => number;
  #timer: unknown;
  #lastTick = 0;
  #lastBusy = 0;
  #idleSince = 0;
  #parkedAt = 0;
  #stayUntil = -Infinity;
  #briefParks = 0;
  #isParked = false;
  #isClosed = false;
  #parks = 0;

  constructor(options: LoopDelaySamplerOptions) {
    this.#o = options;
    this.#timers = options.timers ?? globalTimers;
    this.#activity = options.activity ?? asyncActivityWatch();
    this.#busyMs = options.busyMs ?? eluBusyMs;
    this.#run(options.clock.now());
  }

  /**
   * True while the timer is stopped for an idle loop. JavaScript that reads it runs in a
   * callback, which has already started the timer again: tests with a real loop read
   * {@link parks} instead.
   */
  get isParked(): boolean {
    return this.#isParked;
  }

  /** How many times the timer was stopped for an idle loop. */
  get parks(): number {
    return this.#parks;
  }

  /** Stops the timer and the activity watch for good. */
  close(): void {
    if (this.#isClosed) return;
    this.#isClosed = true;
    if (!this.#isParked) this.#timers.clearInterval(this.#timer);
    this.#activity.disarm();
  }

  #run(now: number): void {
    this.#lastTick = now;
    this.#idleSince = now;
    this.#lastBusy = this.#busyMs();
    this.#timer = this.#timers.setInterval(this.#tick, this.#o.resolutionMs);
  }

  readonly #tick = (): void => {
    const now = this.#o.clock.now();
    const elapsed = now - this.#lastTick;
    this.#lastTick = now;
    this.#o.onSample(Math.max(1, (elapsed - this.#o.resolutionMs) * 1000), now);
    if (this.#o.idleAfterMs === 0) return;
    const busy = this.#busyMs();
    const busyDelta = busy - this.#lastBusy;
    this.#lastBusy = busy;
    if (busyDelta > elapsed * IDLE_BUSY_SHARE) this.#idleSince = now;
    else if (now - this.#idleSince >= this.#o.idleAfterMs && now >= this.#stayUntil) {
      this.#park(now);
    }
  };

  #park(now: number): void {
    this.#timers.clearInterval(this.#timer);
    this.#isParked = true;
    this.#parkedAt = now;
    this.#parks++;
    this.#o.onPark?.(now);
    this.#activity.arm(this.#resume);
  }

  readonly #resume = (): void => {
    if (this.#isClosed) return;
    const now = this.#o.clock.now();
    this.#isParked = false;
    const period = this.#o.resolutionMs;
    this.#briefParks =
      now - this.#parkedAt < BRIEF_PARK_PERIODS * period ? this.#briefParks + 1 : 0;
    if (this.#briefParks >= BRIEF_PARKS) {
      this.#briefParks = 0;
      this.#stayUntil = now + STAY_PERIODS * period;
    }
    this.#o.onResume?.(now);
    this.#run(now);
  };
}
