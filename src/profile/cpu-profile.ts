import { AbortedError } from '../errors/index.js';
import type { InspectorTarget } from './inspector-target.js';

/** One frame of a V8 CPU profile (the `.cpuprofile` format Chrome DevTools reads). */
export interface CallFrame {
  functionName: string;
  scriptId: string;
  url: string;
  /** 0-based. */
  lineNumber: number;
  /** 0-based. */
  columnNumber: number;
}

/** A node of the call tree of a {@link CpuProfile}. */
export interface CpuProfileNode {
  id: number;
  callFrame: CallFrame;
  hitCount?: number;
  children?: number[];
  positionTicks?: { line: number; ticks: number }[];
}

/** A V8 CPU profile, as `Profiler.stop` returns it and `.cpuprofile` files hold it. */
export interface CpuProfile {
  nodes: CpuProfileNode[];
  /** Microseconds. */
  startTime: number;
  /** Microseconds. */
  endTime: number;
  /** The node id of each sample, in order. */
  samples?: number[];
  /** Microseconds since the previous sample, one per sample. */
  timeDeltas?: number[];
}

/** Options of {@link takeCpuProfile}. */
export interface CpuProfileOptions {
  /** How long to profile, in milliseconds. */
  durationMs: number;
  /** Sampling interval in microseconds. @defaultValue 1000 */
  intervalUs?: number;
  /** Stops early; the promise then rejects with an {@link AbortedError}. */
  signal?: AbortSignal;
}

/**
 * Resolves after `ms`, or rejects with an {@link AbortedError} when `signal` aborts first.
 * @internal
 */
export function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted === true) {
      reject(new AbortedError('the profile was aborted', { cause: signal.reason }));
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(new AbortedError('the profile was aborted', { cause: signal?.reason }));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Samples the target's JavaScript stacks for `durationMs` with the V8 profiler and returns the
 * profile. The profiler is stopped and disabled however this ends.
 * @throws {@link AbortedError} `HP_ERR_ABORTED` when `signal` aborts
 */
export async function takeCpuProfile(
  target: InspectorTarget,
  options: CpuProfileOptions,
): Promise<CpuProfile> {
  await target.post('Profiler.enable');
  let started = false;
  try {
    await target.post('Profiler.setSamplingInterval', { interval: options.intervalUs ?? 1000 });
    await target.post('Profiler.start');
    started = true;
    await delay(options.durationMs, options.signal);
    started = false;
    const { profile } = (await target.post('Profiler.stop')) as { profile: CpuProfile };
    return profile;
  } finally {
    if (started) await target.post('Profiler.stop').catch(() => undefined);
    await target.post('Profiler.disable').catch(() => undefined);
  }
}

/**
 * The sampled time of each node, in microseconds: each sample is charged the time since the
 * previous one (V8's `timeDeltas`), or the mean interval when deltas are missing.
 */
export function selfTimes(profile: CpuProfile): Map<number, number> {
  const self = new Map<number, number>();
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  const mean = samples.length > 0 ? (profile.endTime - profile.startTime) / samples.length : 0;
  for (let i = 0; i < samples.length; i++) {
    const id = samples[i]!;
    // The first delta spans from start() to the first sample; negative deltas occur when V8
    // reorders samples and are clamped.
    const delta = deltas[i];
    const us = delta === undefined || i === 0 ? mean : Math.max(0, delta);
    self.set(id, (self.get(id) ?? 0) + us);
  }
  if (samples.length === 0) {
    for (const node of profile.nodes)
      if ((node.hitCount ?? 0) > 0) self.set(node.id, (node.hitCount ?? 0) * 1000);
  }
  return self;
}
