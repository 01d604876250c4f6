/**
 * CPU cost of composed policies and of a cooperative timeout on the success path (the path
 * every healthy call takes), as CPU time per call over a bare `await fn()`: hotpath vs
 * cockatiel 3.2.1, in the same process, interleaved over rounds. Each round awaits a batch of
 * calls of a trivial async function through each candidate, one after another, and reads the
 * process's CPU time (user + system: the timers' and the garbage collector's work counts)
 * around the batch. A round's ratio is a candidate's CPU per call over the bare await's in
 * the same round; the figures are medians over the rounds.
 *
 *   npm run bench -- resilience --filter compose
 */
import {
  Bulkhead,
  CircuitBreaker,
  Retry,
  RetryBudget,
  Timeout,
  retry as hotpathRetry,
  withTimeout,
  wrap,
} from 'hotpath/resilience';
import {
  ConsecutiveBreaker,
  TimeoutStrategy,
  bulkhead as cockatielBulkhead,
  circuitBreaker,
  handleAll,
  retry as cockatielRetry,
  timeout as cockatielTimeout,
  wrap as cockatielWrap,
} from 'cockatiel';
import { environment, median, writeResult } from '../lib/report.js';

const ROUNDS = 7;
// Calls per batch: enough for a few tens of milliseconds of CPU each (the candidates that
// make an AbortController per call cost 10 to 50 times more, so their batches are smaller).
const FAST_CALLS = 200_000;
const SLOW_CALLS = 10_000;

const work = () => Promise.resolve(1);

interface Candidate {
  run: () => Promise<unknown>;
  calls: number;
}

/** CPU nanoseconds per call of one batch. */
async function cpuPerCall({ run, calls }: Candidate): Promise<number> {
  const start = process.cpuUsage();
  for (let i = 0; i < calls; i++) await run();
  const used = process.cpuUsage(start);
  return ((used.user + used.system) * 1000) / calls;
}

interface Row {
  /** Median CPU ns per call. */
  nsPerCall: number;
  /** Median over rounds of (this ns / bare ns in the same round). */
  overBare: number;
  rounds: number[];
}

async function measure(
  title: string,
  candidates: Record<string, Candidate>,
): Promise<Record<string, Row>> {
  const names = Object.keys(candidates);
  const samples: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
  // One warm-up round, not counted: the first batches include JIT compilation.
  for (const name of names) await cpuPerCall(candidates[name]!);
  for (let r = 0; r < ROUNDS; r++) {
    for (const name of names) samples[name]!.push(await cpuPerCall(candidates[name]!));
  }
  const bare = samples['bare await']!;
  const rows: Record<string, Row> = {};
  for (const name of names) {
    const ns = samples[name]!;
    rows[name] = {
      nsPerCall: median(ns),
      overBare: median(ns.map((v, i) => v / bare[i]!)),
      rounds: ns,
    };
  }
  const env = environment();
  console.log(`\n${title}  (node ${env.node}, ${env.cpu}, ${env.cores} cores)`);
  const width = Math.max(...names.map((n) => n.length));
  for (const name of names) {
    const row = rows[name]!;
    console.log(
      `  ${name.padEnd(width)}  ${row.nsPerCall.toFixed(0).padStart(6)} ns CPU/call  ` +
        `${row.overBare.toFixed(2).padStart(6)}x bare`,
    );
  }
  return rows;
}

function vs(rows: Record<string, Row>, ours: string, theirs: string): string {
  return `  ${ours} uses ${(rows[theirs]!.nsPerCall / rows[ours]!.nsPerCall).toFixed(1)}x less CPU per call than ${theirs}`;
}

// Alike: 64 running + 256 queued, breaker open after 10 failures (hotpath: 50% of 20), 2
// retries, 2 s timeout per attempt, cooperative (the function gets a signal).
const composed = wrap(
  new Bulkhead({ maxConcurrent: 64, maxQueue: 256 }),
  new CircuitBreaker({ windowSize: 20, minimumCalls: 10, failureRateThreshold: 0.5 }),
  new Retry({ retries: 2 }),
  new Timeout({ timeoutMs: 2000 }),
);
const composedWithBudget = wrap(
  new Bulkhead({ maxConcurrent: 64, maxQueue: 256 }),
  new CircuitBreaker({ windowSize: 20, minimumCalls: 10, failureRateThreshold: 0.5 }),
  new Retry({ retries: 2, budget: new RetryBudget(), deadlineMs: 5000 }),
  new Timeout({ timeoutMs: 2000 }),
);
// What service/gateway/client.ts nests by hand today.
const nestedBulkhead = new Bulkhead({ maxConcurrent: 64, maxQueue: 256 });
const nestedBreaker = new CircuitBreaker({
  windowSize: 20,
  minimumCalls: 10,
  failureRateThreshold: 0.5,
});
const retryTimeout = wrap(new Retry({ retries: 2 }), new Timeout({ timeoutMs: 2000 }));
const theirs = cockatielWrap(
  cockatielBulkhead(64, 256),
  circuitBreaker(handleAll, { halfOpenAfter: 5000, breaker: new ConsecutiveBreaker(10) }),
  cockatielRetry(handleAll, { maxAttempts: 2 }),
  cockatielTimeout(2000, TimeoutStrategy.Cooperative),
);

const composedRows = await measure(
  'composed bulkhead -> breaker -> retry -> timeout, success path',
  {
    'bare await': { run: work, calls: FAST_CALLS },
    'hotpath wrap': { run: () => composed.execute(work), calls: FAST_CALLS },
    'hotpath wrap, retry with budget + deadline': {
      run: () => composedWithBudget.execute(work),
      calls: FAST_CALLS,
    },
    // Parts of the composed path, to see where its cost goes.
    'part: Bulkhead + CircuitBreaker nested by hand': {
      run: () => nestedBulkhead.execute(() => nestedBreaker.execute(work)),
      calls: FAST_CALLS,
    },
    'part: hotpath wrap(retry, timeout)': {
      run: () => retryTimeout.execute(work),
      calls: FAST_CALLS,
    },
    'hotpath nested by hand (retry(), withTimeout)': {
      run: () =>
        nestedBulkhead.execute(() =>
          nestedBreaker.execute(() => hotpathRetry(() => withTimeout(work, 2000))),
        ),
      calls: SLOW_CALLS,
    },
    'cockatiel wrap': { run: () => theirs.execute(work), calls: SLOW_CALLS },
  },
);
console.log(vs(composedRows, 'hotpath wrap', 'cockatiel wrap'));

const timeout = new Timeout({ timeoutMs: 2000 });
const theirTimeout = cockatielTimeout(2000, TimeoutStrategy.Cooperative);
const timeoutRows = await measure('cooperative timeout, success path', {
  'bare await': { run: work, calls: FAST_CALLS },
  'hotpath Timeout': { run: () => timeout.execute(work), calls: FAST_CALLS },
  'hotpath Timeout, fn reads context.signal': {
    run: () =>
      timeout.execute((context) => {
        void context.signal;
        return work();
      }),
    calls: SLOW_CALLS,
  },
  'hotpath withTimeout': { run: () => withTimeout(work, 2000), calls: SLOW_CALLS },
  'cockatiel timeout (cooperative)': { run: () => theirTimeout.execute(work), calls: SLOW_CALLS },
});
console.log(vs(timeoutRows, 'hotpath Timeout', 'cockatiel timeout (cooperative)'));

writeResult('resilience-compose', {
  composed: composedRows,
  timeout: timeoutRows,
  rounds: ROUNDS,
  calls: { fast: FAST_CALLS, slow: SLOW_CALLS },
});
