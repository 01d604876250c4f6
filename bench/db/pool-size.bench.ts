/**
 * Pool size sweep on real PostgreSQL: 64 concurrent callers run a per-user summary query
 * through instrumented pools of 2 to 32 connections. Prints throughput, p99 latency (acquire
 * wait included) and the pool's own acquire-wait p99 and saturation for each size; on a small
 * machine the best pool is small, as the "connections = cores * 2 + spindles" rule predicts.
 * A closed loop in process: the reference service with `hotpath load` is the end-to-end view.
 *
 *   npm run bench -- db --filter pool-size
 */
import { createPool, type InstrumentedPool } from 'hotpath/db';
import { Histogram } from 'hotpath/metrics';
import pg from 'pg';
import { median, writeResult } from '../lib/report.js';
import { benchDatabase, fillPayments } from './setup.js';

const SIZES = [2, 4, 8, 16, 32];
const CALLERS = 64;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const ROUND_MS = 1500;
const sql = 'SELECT count(*) AS n, sum(amount) AS total FROM payments WHERE user_id = $1';

const db = await benchDatabase();
const setup = new pg.Pool({ connectionString: db.url, max: 1 });
const pools = new Map<number, InstrumentedPool>();
try {
  console.log('filling 100000 payments...');
  await fillPayments(setup, 1000, 100);
  for (const max of SIZES) {
    pools.set(max, await createPool({ connectionString: db.url, max, acquireTimeoutMs: 0 }));
  }
  let next = 0;
  const round = async (pool: InstrumentedPool) => {
    const latency = new Histogram({ lowest: 1, highest: 6e7 });
    pool.acquireWaitHistogram.reset();
    pool.metrics(); // starts the saturation window
    const end = performance.now() + ROUND_MS;
    let count = 0;
    const start = performance.now();
    await Promise.all(
      Array.from({ length: CALLERS }, async () => {
        while (performance.now() < end) {
          const t = performance.now();
          await pool.query(sql, [1 + (next++ % 1000)]);
          latency.record((performance.now() - t) * 1000);
          count++;
        }
      }),
    );
    const m = pool.metrics();
    return {
      qps: (count * 1000) / (performance.now() - start),
      p99Ms: latency.percentile(99) / 1000,
      acquireP99Ms: m.acquireWaitMs.p99,
      saturation: m.saturation,
    };
  };
  for (const pool of pools.values()) await round(pool); // warm-up: connections open
  const samples = new Map<number, Awaited<ReturnType<typeof round>>[]>();
  for (let r = 0; r < ROUNDS; r++) {
    for (const [max, pool] of pools) {
      const list = samples.get(max) ?? [];
      list.push(await round(pool));
      samples.set(max, list);
    }
  }
  console.log(
    `pool size sweep, ${CALLERS} callers, per-user summary query, medians of ${ROUNDS} rounds (node ${process.version})`,
  );
  console.log('  max  queries/s  p99 ms  acquire-wait p99 ms  saturation');
  const table: Record<string, unknown> = {};
  for (const [max, list] of samples) {
    const row = {
      qps: median(list.map((s) => s.qps)),
      p99Ms: median(list.map((s) => s.p99Ms)),
      acquireP99Ms: median(list.map((s) => s.acquireP99Ms)),
      saturation: median(list.map((s) => s.saturation)),
    };
    table[max] = { ...row, rounds: list };
    console.log(
      `  ${String(max).padStart(3)}  ${row.qps.toFixed(0).padStart(9)}  ${row.p99Ms.toFixed(1).padStart(6)}  ${row.acquireP99Ms.toFixed(1).padStart(19)}  ${row.saturation.toFixed(1).padStart(10)}`,
    );
  }
  writeResult('db-pool-size', { callers: CALLERS, table });
} finally {
  for (const pool of pools.values()) await pool.close();
  await setup.end();
  await db.drop();
}
