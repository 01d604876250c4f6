import { AbortedError } from '../errors/index.js';
import type { CpuProfile } from './cpu-profile.js';
import { delay } from './cpu-profile.js';
import { CpuProfileAggregate } from './cpu-profile-aggregate.js';
import type { InspectorTarget } from './inspector-target.js';
import type { SourceMapResolver } from './source-maps.js';

/** Options of {@link takeChunkedCpuProfile}. */
export interface ChunkedCpuProfileOptions {
  /** How long to profile, in milliseconds. */
  durationMs: number;
  /** Sampling interval in microseconds. @defaultValue 1000 */
  intervalUs?: number;
  /** Length of a chunk, in milliseconds. @defaultValue 1000 */
  chunkMs?: number;
  /** Longest last chunk, in milliseconds: what is left to stop when the window ends. @defaultValue 100 */
  lastChunkMs?: number;
  /**
   * How long the next chunk runs before the previous one is stopped, in milliseconds: longer
   * than V8's lag between taking a tick and recording it (which grows on a busy machine), so
   * no tick falls between two chunks.
   * @defaultValue 50
   */
  overlapMs?: number;
  /** Maps frames to original sources as functions are first seen. */
  resolver?: SourceMapResolver;
  /** Stops early; the promise then rejects with an {@link AbortedError}. */
  signal?: AbortSignal;
}

interface ConsoleProfileFinished {
  id: string;
  title?: string;
  profile: CpuProfile;
}

let sequence = 0;

/**
 * Profiles the target for `durationMs` as a run of short V8 profiles ("chunks") folded into a
 * {@link CpuProfileAggregate} while the profile goes on, so that when the window ends only the
 * last, short chunk is left to stop and fold: the time from the end of the window to encoded
 * bytes no longer grows with the profile's length.
 *
 * ```
 *   chunk 0  |==========|
 *   chunk 1            |==========|        each chunk starts overlapMs before the previous
 *   chunk 2                      |=====|   one stops; the last one is at most lastChunkMs
 *            ^ start                   ^ end of window: stop chunk 2, fold, encode
 * ```
 *
 * Chunks are titled profiles of the `Profiler` domain (V8's `console.profile()` /
 * `console.profileEnd()`, called directly on the calling thread and evaluated in a worker
 * thread through the DevTools command line API), so the target keeps one V8 CPU
 * profiler running throughout: no code is re-logged between chunks and both profiles of an
 * overlap record the same ticks, which the aggregate keeps once. Other inspector sessions of
 * the same thread with the `Profiler` domain enabled see these chunks too.
 * @throws {@link AbortedError} `HP_ERR_ABORTED` when `signal` aborts
 */
export async function takeChunkedCpuProfile(
  target: InspectorTarget,
  options: ChunkedCpuProfileOptions,
): Promise<CpuProfileAggregate> {
  const intervalUs = options.intervalUs ?? 1000;
  const chunkMs = options.chunkMs ?? 1000;
  const lastChunkMs = Math.min(options.lastChunkMs ?? 100, chunkMs);
  const overlapMs = options.overlapMs ?? 50;
  const aggregate = new CpuProfileAggregate({ intervalUs, resolver: options.resolver });
  const prefix = `hotpath-${process.pid}-${++sequence}-`;
  const finished = new Map<string, CpuProfile>();
  const off = target.on('Profiler.consoleProfileFinished', (params) => {
    const event = params as ConsoleProfileFinished;
    if (event.title?.startsWith(prefix) === true) finished.set(event.title, event.profile);
  });
  const running = new Set<string>();
  const command = async (fn: 'profile' | 'profileEnd', title: string): Promise<void> => {
    if (target.consoleProfile !== undefined) {
      target.consoleProfile(title, fn === 'profileEnd');
    } else {
      // The command line API's function, unless a global of that name hides it (V8 then does
      // not install it): then the target's console method.
      const result = (await target.post('Runtime.evaluate', {
        expression: `('${fn}' in globalThis ? console.${fn} : ${fn})(${JSON.stringify(title)})`,
        includeCommandLineAPI: true,
        silent: true,
      })) as { exceptionDetails?: { text: string } };
      if (result.exceptionDetails !== undefined) {
        throw new Error(`${fn}() failed in the profiled thread: ${result.exceptionDetails.text}`);
      }
    }
    if (fn === 'profile') running.add(title);
    else running.delete(title);
  };
  const stop = async (title: string): Promise<CpuProfile> => {
    await command('profileEnd', title);
    // The event precedes the command's reply; a missing one means the profile never ran.
    const profile = finished.get(title);
    finished.delete(title);
    if (profile === undefined) throw new Error(`the profile chunk "${title}" was not delivered`);
    return profile;
  };

  await target.post('Profiler.enable');
  try {
    await target.post('Profiler.setSamplingInterval', { interval: intervalUs });
    let index = 0;
    let title = prefix + index;
    await command('profile', title);
    const startedAt = performance.now();
    const endAt = startedAt + options.durationMs;
    for (;;) {
      const now = performance.now();
      // What remains fits in the last chunk.
      if (endAt - now <= lastChunkMs + overlapMs) break;
      // The next boundary: a full chunk on (or now, when late), but no later than leaves a
      // last chunk of lastChunkMs.
      const next = Math.min(Math.max(startedAt + (index + 1) * chunkMs, now), endAt - lastChunkMs);
      await delay(next - now, options.signal);
      const nextTitle = prefix + ++index;
      await command('profile', nextTitle);
      await delay(overlapMs, options.signal);
      aggregate.add(await stop(title));
      title = nextTitle;
    }
    await delay(endAt - performance.now(), options.signal);
    aggregate.markStopped(performance.now());
    aggregate.add(await stop(title));
    return aggregate;
  } catch (error) {
    if (options.signal?.aborted === true && !(error instanceof AbortedError)) {
      throw new AbortedError('the profile was aborted', { cause: options.signal.reason });
    }
    throw error;
  } finally {
    for (const title of running) await command('profileEnd', title).catch(() => undefined);
    off();
    await target.post('Profiler.disable').catch(() => undefined);
  }
}
