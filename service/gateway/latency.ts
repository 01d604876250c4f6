export { seededRandom } from 'hotpath/load';

/** A latency distribution for the gateway simulator, in milliseconds. */
export type LatencySampler = (random: () => number) => number;

/**
 * Parses a latency spec:
 * - `none` or `0`: answer at once
 * - `fixed:20`: always 20 ms
 * - `uniform:5-50`: uniform between 5 and 50 ms
 * - `lognormal:20:200`: log-normal with median 20 ms and p99 200 ms (a realistic long tail)
 * @throws Error naming the expected forms when the spec is not one of them.
 */
export function parseLatency(spec: string): LatencySampler {
  const s = spec.trim();
  if (s === 'none' || s === '0') return () => 0;
  let m = /^fixed:(\d+(?:\.\d+)?)$/.exec(s);
  if (m) {
    const ms = Number(m[1]);
    return () => ms;
  }
  m = /^uniform:(\d+(?:\.\d+)?)-(\d+(?:\.\d+)?)$/.exec(s);
  if (m && Number(m[1]) <= Number(m[2])) {
    const lo = Number(m[1]);
    const hi = Number(m[2]);
    return (random) => lo + (hi - lo) * random();
  }
  m = /^lognormal:(\d+(?:\.\d+)?):(\d+(?:\.\d+)?)$/.exec(s);
  if (m && Number(m[1]) > 0 && Number(m[2]) >= Number(m[1])) {
    const median = Number(m[1]);
    // z(0.99) = 2.3263: sigma puts the 99th percentile at the given value.
    const sigma = Math.log(Number(m[2]) / median) / 2.3263;
    return (random) => {
      const u = Math.max(random(), Number.EPSILON);
      const z = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
      return median * Math.exp(sigma * z);
    };
  }
  throw new Error(
    `expected none, fixed:MS, uniform:MIN-MAX or lognormal:MEDIAN:P99, got "${spec}"`,
  );
}
