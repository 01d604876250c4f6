import type { Redis } from 'ioredis';
import { InvalidOptionError } from '../errors/index.js';
import type { Clock } from '../internal/clock.js';
import { checkNumber, checkString } from '../internal/validate-options.js';
import { coarseWallClock } from '../internal/coarse-clock.js';
import type { CacheOptions } from './options.js';
import { jsonSerializer, type Serializer } from './serializer.js';
import { estimateSize } from './size.js';

/** {@link CacheOptions} validated, with every default filled in. */
export interface CacheSettings {
  namespace: string;
  max: number;
  maxBytes: number | undefined;
  l1TtlMs: number;
  sizeOf: (value: unknown) => number;
  l2: Redis | undefined;
  serializer: Serializer;
  ttlMs: number;
  jitter: number;
  writeMode: 'through' | 'behind';
  flushIntervalMs: number;
  maxBatch: number;
  closeTimeoutMs: number;
  l2TimeoutMs: number;
  l2ReadBatch: number;
  l2RetryMs: number;
  leaseMs: number;
  tombstoneMs: number;
  clock: Clock;
  random: () => number;
}

function num(
  name: string,
  value: number | undefined,
  fallback: number,
  range: { min?: number; max?: number; integer?: boolean },
): number {
  return value === undefined ? fallback : checkNumber(name, value, range);
}

/** Validates createCache options; throws InvalidOptionError naming the first bad one. */
export function resolveCacheOptions(options: CacheOptions): CacheSettings {
  if (options === null || typeof options !== 'object')
    throw new InvalidOptionError('options', 'expected an object');
  const l1 = options.l1 ?? {};
  const wb = options.writeBehind ?? {};
  if (l1.sizeOf !== undefined && typeof l1.sizeOf !== 'function')
    throw new InvalidOptionError('l1.sizeOf', 'expected a function');
  const writeMode = options.writeMode ?? 'through';
  if (writeMode !== 'through' && writeMode !== 'behind')
    throw new InvalidOptionError('writeMode', 'expected "through" or "behind"');
  const clock = options.clock ?? coarseWallClock();
  if (typeof clock.now !== 'function')
    throw new InvalidOptionError('clock', 'expected an object with now()');
  const random = options.random ?? Math.random;
  if (typeof random !== 'function') throw new InvalidOptionError('random', 'expected a function');
  const serializer = options.serializer ?? jsonSerializer;
  if (typeof serializer.serialize !== 'function' || typeof serializer.deserialize !== 'function')
    throw new InvalidOptionError('serializer', 'expected { serialize, deserialize }');
  const l2 = options.l2;
  if (l2 !== undefined && (typeof l2 !== 'object' || typeof l2.duplicate !== 'function'))
    throw new InvalidOptionError('l2', 'expected an ioredis client');
  // The Lua scripts build value keys from tag members: a client-side prefix would not apply.
  if (l2 !== undefined && typeof l2.options?.keyPrefix === 'string' && l2.options.keyPrefix !== '')
    throw new InvalidOptionError('l2', 'a client with keyPrefix is not supported: use namespace');
  return {
    namespace: checkString('namespace', options.namespace),
    max: num('l1.max', l1.max, 10_000, { min: 1, integer: true }),
    maxBytes:
      l1.maxBytes === undefined
        ? undefined
        : checkNumber('l1.maxBytes', l1.maxBytes, { min: 1, integer: true }),
    l1TtlMs: num('l1.ttlMs', l1.ttlMs, 10_000, { min: 0 }),
    sizeOf: l1.sizeOf ?? estimateSize,
    l2,
    serializer,
    ttlMs: num('ttlMs', options.ttlMs, 60_000, { min: 1 }),
    jitter: num('jitter', options.jitter, 0.1, { min: 0, max: 0.9 }),
    writeMode,
    flushIntervalMs: num('writeBehind.flushIntervalMs', wb.flushIntervalMs, 50, { min: 1 }),
    maxBatch: num('writeBehind.maxBatch', wb.maxBatch, 500, { min: 1, integer: true }),
    closeTimeoutMs: num('writeBehind.closeTimeoutMs', wb.closeTimeoutMs, 5000, { min: 0 }),
    l2TimeoutMs: num('l2TimeoutMs', options.l2TimeoutMs, 200, { min: 1 }),
    l2ReadBatch: num('l2ReadBatch', options.l2ReadBatch, 64, { min: 1, integer: true }),
    l2RetryMs: num('l2RetryMs', options.l2RetryMs, 1000, { min: 0 }),
    leaseMs: num('leaseMs', options.leaseMs, 10_000, { min: 1 }),
    tombstoneMs: num('tombstoneMs', options.tombstoneMs, 30_000, { min: 1 }),
    clock,
    random,
  };
}
