export { seededRandom } from 'hotpath/load';

/** A latency distribution for the gateway simulator, in milliseconds. */
export type LatencySampler = (random: () => number) => number;

/** A parsed latency spec: plain data, so it can cross a process boundary as it is. */
export type LatencySpec =
  | { kind: 'none' }
  | { kind: 'fixed'; ms: number }
  | { kind: 'uniform'; minMs: number; maxMs: number }
  | { kind: 'lognormal'; medianMs: number; p99Ms: number };

const NUMBER = String.raw`(\d+(?:\.\d+)?)`;
const FIXED = new RegExp(`^fixed:${NUMBER}$`);
const UNIFORM = new RegExp(`^uniform:${NUMBER}-${NUMBER}$`);
const LOGNORMAL = new RegExp(`^lognormal:${NUMBER}:${NUMBER}$`);

/**
 * Parses a latency spec:
 * - `none` or `0`: answer at once
 * - `fixed:20`: always 20 ms
 * - `uniform:5-50`: uniform between 5 and 50 ms
 * - `lognormal:20:200`: log-normal with median 20 ms and p99 200 ms (a realistic long tail)
 * @throws Error naming the expected forms when the spec is not one of them.
 */
export function parseLatencySpec(spec: string): LatencySpec {
  const s = spec.trim();
  if (s === 'none' || s === '0') return { kind: 'none' };
  let m = FIXED.exec(s);
  if (m) return { kind: 'fixed', ms: Number(m[1]) };
  m = UNIFORM.exec(s);
  if (m && Number(m[1]) <= Number(m[2]))
    return { kind: 'uniform', minMs: Number(m[1]), maxMs: Number(m[2]) };
  m = LOGNORMAL.exec(s);
  if (m && Number(m[1]) > 0 && Number(m[2]) >= Number(m[1]))
    return { kind: 'lognormal', medianMs: Number(m[1]), p99Ms: Number(m[2]) };
  throw new Error(
    `expected none, fixed:MS, uniform:MIN-MAX or lognormal:MEDIAN:P99, got "${spec}"`,
  );
}

/** The sampler of a parsed spec. */
export function latencySampler(spec: LatencySpec): LatencySampler {
  switch (spec.kind) {
    case 'none':
      return () => 0;
    case 'fixed': {
      const ms = spec.ms;
      return () => ms;
    }
    case 'uniform': {
      const { minMs, maxMs } = spec;
      return (random) => minMs + (maxMs - minMs) * random();
    }
    case 'lognormal': {
      const median = spec.medianMs;
      // z(0.99) = 2.3263: sigma puts the 99th percentile at the given value.
      const sigma = Math.log(spec.p99Ms / median) / 2.3263;
      return (random) => {
        const u = Math.max(random(), Number.EPSILON);
        const z = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
        return median * Math.exp(sigma * z);
      };
    }
  }
}

/**
 * Parses a latency spec into its sampler (`latencySampler(parseLatencySpec(spec))`).
 * @throws Error naming the expected forms when the spec is not one of them.
 */
export function parseLatency(spec: string): LatencySampler {
  return latencySampler(parseLatencySpec(spec));
}
