import { performance } from 'node:perf_hooks';
import { checkNumber } from '../internal/validate-options.js';

/** What a {@link LoopSampler} saw since its previous sample. */
export interface LoopSample {
  /** The longest event-loop stall since the previous sample, in milliseconds. */
  delayMs: number;
  /** Share of the time since the previous sample the event loop was busy, 0 to 1. */
  utilization: number;
  /**
   * CPU time the process used since the previous sample (user + system, every thread) over
   * the wall time, 0 to 1 (above 1 when other threads are busy too). Busy loop time the
   * process did not run for (other processes held the CPU) is in `utilization` and not here,
   * which is how a {@link LoadShedder} tells starvation from its own overload. Absent from a
   * sampler that cannot tell; the shedder then takes the loop's figures as its own.
   */
  cpuUtilization?: number;
}

/**
 * Reads the event loop's state; a {@link LoadShedder} calls `sample()` once per tick. Inject
 * one to drive the shedder by hand in tests.
 */
export interface LoopSampler {
  /** The loop's state since the previous call (or since construction). */
  sample(): LoopSample;
  /** Stops whatever the sampler measures with. */
  close(): void;
}

/** Options of {@link EventLoopSampler}. */
export interface EventLoopSamplerOptions {
  /** How often `sample()` is expected to be called, in ms. @defaultValue 100 */
  intervalMs?: number;
  /** Period of the timer that measures stalls, in ms (at most `intervalMs`). @defaultValue 10 */
  resolutionMs?: number;
}

/**
 * Samples this thread's event loop for a load shedder: a timer every `resolutionMs` measures
 * how late it fires (the loop's stalls; the longest since the previous sample is kept),
 * `performance.eventLoopUtilization()` deltas give the busy share of each interval (recent,
 * never cumulative since start as `@fastify/under-pressure`'s default mode is:
 * fastify/under-pressure#294), and `process.cpuUsage()` deltas the CPU the process actually
 * got in it. The stall is also at least how late `sample()` itself is against `intervalMs`,
 * since the caller's timer may run first after a long block.
 *
 * `monitorEventLoopDelay` is not used: its histogram can only be windowed by `reset()`, and
 * the interval after each reset is never recorded (Node 20.20: a 300 ms block right after a
 * reset reads as a 10 ms maximum), and it reports the timer's period, not the stall. The
 * technique is `hotpath/metrics`' `RuntimeMetrics` one, without its registry, GC observer and
 * windowed histogram: a shedder reads two numbers ten times a second.
 * @example
 * const sampler = new EventLoopSampler({ intervalMs: 100 });
 * setInterval(() => console.log(sampler.sample()), 100).unref();
 */
export class EventLoopSampler implements LoopSampler {
  readonly #intervalMs: number;
  readonly #resolutionMs: number;
  readonly #timer: NodeJS.Timeout;
  #elu = performance.eventLoopUtilization();
  #cpu = process.cpuUsage();
  #last = performance.now();
  #lastTick = this.#last;
  #maxLateMs = 0;

  /** @throws {@link InvalidOptionError} `HP_ERR_INVALID_OPTION` naming a bad option. */
  constructor(options: EventLoopSamplerOptions = {}) {
    this.#intervalMs = checkNumber('intervalMs', options.intervalMs ?? 100, { min: 1 });
    this.#resolutionMs = checkNumber('resolutionMs', options.resolutionMs ?? 10, {
      min: 1,
      max: this.#intervalMs,
    });
    this.#timer = setInterval(() => this.#tick(), this.#resolutionMs);
    this.#timer.unref();
  }

  sample(): LoopSample {
    const now = performance.now();
    this.#tick(now);
    const wallMs = now - this.#last;
    const late = wallMs - this.#intervalMs;
    this.#last = now;
    const delayMs = Math.max(0, this.#maxLateMs, late);
    this.#maxLateMs = 0;
    const elu = performance.eventLoopUtilization();
    const utilization = performance.eventLoopUtilization(elu, this.#elu).utilization;
    this.#elu = elu;
    const cpu = process.cpuUsage();
    const cpuMs = (cpu.user - this.#cpu.user + cpu.system - this.#cpu.system) / 1000;
    this.#cpu = cpu;
    return { delayMs, utilization, cpuUtilization: wallMs > 0 ? cpuMs / wallMs : 0 };
  }

  close(): void {
    clearInterval(this.#timer);
  }

  #tick(now = performance.now()): void {
    const late = now - this.#lastTick - this.#resolutionMs;
    this.#lastTick = now;
    if (late > this.#maxLateMs) this.#maxLateMs = late;
  }
}
