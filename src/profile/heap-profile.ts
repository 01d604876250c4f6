import type { CallFrame } from './cpu-profile.js';
import { delay } from './cpu-profile.js';
import type { InspectorTarget } from './inspector-target.js';

/** A node of a V8 sampling heap profile: bytes still live that were allocated here. */
export interface HeapProfileNode {
  id: number;
  callFrame: CallFrame;
  /** Bytes of the sampled allocations made in this frame (not its callees). */
  selfSize: number;
  children: HeapProfileNode[];
}

/** A V8 sampling heap profile (`HeapProfiler.getSamplingProfile`). */
export interface HeapProfile {
  head: HeapProfileNode;
  samples: { size: number; nodeId: number; ordinal: number }[];
}

/** Options of {@link takeHeapProfile}. */
export interface HeapProfileOptions {
  /** How long to sample allocations, in milliseconds. */
  durationMs: number;
  /** Mean bytes between samples; smaller is more precise and costs more. @defaultValue 32768 */
  samplingIntervalBytes?: number;
  /**
   * Also report sampled objects the GC has freed since (allocation profile); by default only
   * the ones still live at the end are reported (in-use profile).
   * @defaultValue false
   */
  includeCollected?: boolean;
  /** Stops early; the promise then rejects with an `AbortedError`. */
  signal?: AbortSignal;
}

/**
 * Samples allocations on the target for `durationMs` and returns where the sampled bytes were
 * allocated, with their call stacks. Sampling is stopped however this ends.
 * @throws {@link AbortedError} `HP_ERR_ABORTED` when `signal` aborts
 */
export async function takeHeapProfile(
  target: InspectorTarget,
  options: HeapProfileOptions,
): Promise<HeapProfile> {
  await target.post('HeapProfiler.enable');
  let sampling = false;
  try {
    const collected = options.includeCollected === true;
    await target.post('HeapProfiler.startSampling', {
      samplingInterval: options.samplingIntervalBytes ?? 32768,
      includeObjectsCollectedByMajorGC: collected,
      includeObjectsCollectedByMinorGC: collected,
    });
    sampling = true;
    await delay(options.durationMs, options.signal);
    const { profile } = (await target.post('HeapProfiler.getSamplingProfile')) as {
      profile: HeapProfile;
    };
    return profile;
  } finally {
    if (sampling) await target.post('HeapProfiler.stopSampling').catch(() => undefined);
    await target.post('HeapProfiler.disable').catch(() => undefined);
  }
}
