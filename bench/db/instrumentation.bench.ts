/**
 * Cost of hotpath's pool instrumentation (pool metrics, acquire deadline, leak detector,
 * fingerprint stats with a histogram, slow-query check, N+1 detector inside a request scope) vs
 * raw pg, both sending the same named statement, at concurrency 16 on real PostgreSQL.
 *
 * The client shares the machine's cores with the server, so its CPU per query shows in the
 * throughput: each round also reports the client process's CPU time (user + system) per query.
 * Rounds alternate the two candidates; the overhead is the median of the per-round ratios (each
 * round's pair ran back to back) next to the ratio of the medians.
 *
 * A second part measures the same two paths against an in-process stub driver (pg.Pool with a
 * `Client` that answers at once): no server, so it isolates the microseconds the
 * instrumentation adds per query, which the noisy real-server figure can hide.
 *
 *   npm run bench -- db --filter instrumentation
 */
import { EventEmitter } from 'node:events';
import { NPlusOneDetector, QueryStats, SlowQueryLog, instrumentPool } from 'hotpath/db';
import pg from 'pg';
import { interleave, median, printRatios, writeResult } from '../lib/report.js';
import { benchDatabase, fillPayments, throughput } from './setup.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 15);
const CONCURRENCY = 16;
const sql = 'SELECT id, amount, status FROM payments WHERE id = $1';

/** A pg Client look-alike that answers every query on the next turn of the event loop. */
class StubClient extends EventEmitter {
  _queryable = true;
  _ending = false;
  connect(cb?: (error?: Error) => void): Promise<void> | undefined {
    if (cb === undefined) return Promise.resolve();
    process.nextTick(cb);
    return undefined;
  }
  query(_config: unknown, values?: unknown, cb?: unknown): unknown {
    const result = { rows: [{ id: 1 }], rowCount: 1 };
    const callback = (typeof values === 'function' ? values : cb) as
      ((e: undefined, r: unknown) => void) | undefined;
    if (callback !== undefined) {
      setImmediate(callback, undefined, result);
      return undefined;
    }
    return new Promise((resolve) => setImmediate(resolve, result));
  }
  end(cb?: () => void): Promise<void> {
    cb?.();
    return Promise.resolve();
  }
}

async function stubDriver(): Promise<{ raw: number; instrumented: number }> {
  const make = (): pg.Pool => new pg.Pool({ Client: StubClient as never, max: 16 });
  const rawStub = make();
  const stubDetector = new NPlusOneDetector({ threshold: 1_000_000 });
  const ours = instrumentPool(make(), { nPlusOne: stubDetector });
  const cpuPerQuery = async (fn: () => Promise<unknown>): Promise<number> => {
    const n = 100_000;
    let i = 0;
    const before = process.cpuUsage();
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (i++ < n) await fn();
      }),
    );
    const used = process.cpuUsage(before);
    return (used.user + used.system) / n;
  };
  const samples = await interleave(
    {
      raw: () =>
        stubDetector.run('GET /bench', () =>
          cpuPerQuery(() => rawStub.query({ name: 'q', text: sql, values: [1] })),
        ),
      instrumented: () =>
        stubDetector.run('GET /bench', () => cpuPerQuery(() => ours.query(sql, [1]))),
    },
    ROUNDS,
  );
  await ours.close();
  await ours.pool.end();
  await rawStub.end();
  return { raw: samples.raw!.median, instrumented: samples.instrumented!.median };
}

const db = await benchDatabase();
// One pg pool for both candidates, instrumented in place for hotpath's rounds and restored to
// plain pg for the others: the same connections and server backends serve both, so the
// comparison is not skewed by which backends are warm.
const pool = new pg.Pool({ connectionString: db.url, max: 16 });
const plain = new pg.Pool({ connectionString: db.url, max: 2 });
const detector = new NPlusOneDetector({ threshold: 1_000_000, mode: 'warn' });
const slow = new SlowQueryLog({ pool: plain, thresholdMs: 10_000 });
const stats = new QueryStats();
try {
  console.log('filling 100000 payments...');
  await fillPayments(pool, 1000, 100);
  let i = 0;
  const cpuPerQuery: Record<string, number[]> = {};
  // throughput plus the client's CPU microseconds per query in the same round
  const measured = async (name: string, op: () => Promise<unknown>): Promise<number> => {
    let queries = 0;
    const before = process.cpuUsage();
    const perSecond = await throughput(() => (queries++, op()), 1000, CONCURRENCY);
    const used = process.cpuUsage(before);
    (cpuPerQuery[name] ??= []).push((used.user + used.system) / queries);
    return perSecond;
  };
  // Both run inside a request scope of the N+1 detector, as a service's queries would.
  const candidates = {
    'hotpath instrumented': () =>
      detector.run('GET /bench', async () => {
        const instrumented = instrumentPool(pool, { nPlusOne: detector, slowQueries: slow, stats });
        try {
          return await measured('hotpath instrumented', () =>
            instrumented.query(sql, [1 + (i++ % 100_000)]),
          );
        } finally {
          await instrumented.close();
        }
      }),
    'raw pg (named)': () =>
      detector.run('GET /bench', () =>
        measured('raw pg (named)', () =>
          pool.query({ name: 'q', text: sql, values: [1 + (i++ % 100_000)] }),
        ),
      ),
  };
  for (const fn of Object.values(candidates)) await fn();
  for (const name of Object.keys(cpuPerQuery)) cpuPerQuery[name] = [];
  const results = await interleave(candidates, ROUNDS);
  const medians = Object.fromEntries(Object.entries(results).map(([n, r]) => [n, r.median]));
  printRatios(
    `primary-key lookup, concurrency ${CONCURRENCY}, queries/s, ${ROUNDS} rounds`,
    medians,
    'q/s',
    'hotpath instrumented',
  );
  const ours = results['hotpath instrumented']!.rounds;
  const theirs = results['raw pg (named)']!.rounds;
  const overhead = 1 - median(ours.map((q, r) => q / theirs[r]!));
  const overheadOfMedians = 1 - medians['hotpath instrumented']! / medians['raw pg (named)']!;
  console.log(
    `  overhead: ${(overhead * 100).toFixed(1)}% of raw pg throughput (median of per-round ratios; ratio of medians ${(overheadOfMedians * 100).toFixed(1)}%)`,
  );
  const cpu = Object.fromEntries(Object.entries(cpuPerQuery).map(([n, v]) => [n, median(v)]));
  console.log(
    `  client CPU per query: raw pg ${cpu['raw pg (named)']!.toFixed(2)} us, instrumented ${cpu['hotpath instrumented']!.toFixed(2)} us (${(cpu['hotpath instrumented']! - cpu['raw pg (named)']!).toFixed(2)} us)`,
  );
  const top = stats.top(1)[0];
  console.log(`  stats: ${top?.calls} calls, p99 ${top?.p99Ms.toFixed(3)} ms (${top?.query})`);

  // Part 2: the same paths over a stub driver, CPU microseconds per query.
  const stub = await stubDriver();
  console.log(
    `stub driver, concurrency ${CONCURRENCY}, CPU per query: raw pg ${stub.raw.toFixed(2)} us, instrumented ${stub.instrumented.toFixed(2)} us (+${(stub.instrumented - stub.raw).toFixed(2)} us)`,
  );
  writeResult('db-instrumentation', {
    concurrency: CONCURRENCY,
    results,
    overhead,
    overheadOfMedians,
    clientCpuUsPerQuery: cpu,
    stub,
  });
} finally {
  await slow.close();
  await plain.end();
  await pool.end();
  await db.drop();
}
