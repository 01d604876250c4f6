/**
 * Cost of wrapping a call in a policy, on the success path (the path every healthy request
 * takes): hotpath/resilience vs cockatiel 3 and opossum 9, in the same process, interleaved
 * over rounds. Each round awaits N calls of a trivial async function through the policy.
 *
 *   npm run bench -- resilience
 */
import { Bulkhead as HotpathBulkhead, CircuitBreaker as HotpathBreaker } from 'hotpath/resilience';
import {
  ConsecutiveBreaker,
  SamplingBreaker,
  bulkhead as cockatielBulkhead,
  circuitBreaker,
  handleAll,
} from 'cockatiel';
import OpossumBreaker from 'opossum';
import { interleave, printRatios, writeResult } from '../lib/report.js';

const CALLS = 200_000;
const ROUNDS = 7;
const work = () => Promise.resolve(1);

async function opsPerSecond(run: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  for (let i = 0; i < CALLS; i++) await run();
  return CALLS / ((performance.now() - start) / 1000);
}

// Breakers configured alike: open at 50% failures over a recent window, 5 s open.
const ours = new HotpathBreaker({
  windowSize: 20,
  minimumCalls: 10,
  failureRateThreshold: 0.5,
  openMs: 5000,
});
const cockatielSampling = circuitBreaker(handleAll, {
  halfOpenAfter: 5000,
  breaker: new SamplingBreaker({ threshold: 0.5, duration: 10_000, minimumRps: 1 }),
});
const cockatielConsecutive = circuitBreaker(handleAll, {
  halfOpenAfter: 5000,
  breaker: new ConsecutiveBreaker(10),
});
const opossum = new OpossumBreaker(work, {
  timeout: false,
  errorThresholdPercentage: 50,
  resetTimeout: 5000,
});

const breakers = await interleave(
  {
    'hotpath CircuitBreaker': () => opsPerSecond(() => ours.execute(work)),
    'cockatiel SamplingBreaker': () => opsPerSecond(() => cockatielSampling.execute(work)),
    'cockatiel ConsecutiveBreaker': () => opsPerSecond(() => cockatielConsecutive.execute(work)),
    opossum: () => opsPerSecond(() => opossum.fire()),
    'no policy (baseline)': () => opsPerSecond(work),
  },
  ROUNDS,
);
opossum.shutdown();

const ourBulkhead = new HotpathBulkhead({ maxConcurrent: 64, maxQueue: 256 });
const theirBulkhead = cockatielBulkhead(64, 256);
const bulkheads = await interleave(
  {
    'hotpath Bulkhead': () => opsPerSecond(() => ourBulkhead.execute(work)),
    'cockatiel bulkhead': () => opsPerSecond(() => theirBulkhead.execute(work)),
  },
  ROUNDS,
);

const medians = (r: Record<string, { median: number }>) =>
  Object.fromEntries(Object.entries(r).map(([k, v]) => [k, v.median]));
printRatios(
  `circuit breaker, success path, ${CALLS} awaited calls x ${ROUNDS} rounds`,
  medians(breakers),
  'calls/s',
  'hotpath CircuitBreaker',
);
printRatios(
  `bulkhead, success path, ${CALLS} awaited calls x ${ROUNDS} rounds`,
  medians(bulkheads),
  'calls/s',
  'hotpath Bulkhead',
);
writeResult('resilience-policies', { breakers, bulkheads, calls: CALLS, rounds: ROUNDS });
