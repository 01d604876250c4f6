/**
 * Cross-instance staleness of the cache: how long after instance A acknowledged a write does
 * instance B still answer from a copy the write made stale? Two instances of the payments
 * service share PostgreSQL and Redis (L2 and the invalidation bus) through scripts/scale.sh.
 * For each of WRITES writes: B reads a user's summary until it holds it in L1 (two reads), A
 * creates a payment of that user (201), and from the moment A's answer arrives B's summary is
 * read back to back until it counts the new payment. Staleness is the time from A's answer to
 * the sending of the first read on B that is fresh (0 when the first read after it is); the stale reads after the acknowledgement are counted. The bound
 * when an invalidation message is lost is the L1 lifetime (`l1.ttlMs`, 10 s in the service).
 * A background load of the shipped mix runs on both instances meanwhile, so the figure is of a
 * busy service, not an idle one.
 *
 *   bash scripts/services.sh start && npm run bench -- scale --filter staleness
 *   WRITES=300 BACKGROUND_RATE=200 npm run bench -- scale --filter staleness
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Agent, request } from 'undici';
import { load, type LoadResult, type RequestMix } from 'hotpath/load';
import { writeResult } from '../lib/report.js';
import { startBenchCluster } from './cluster.js';

const WRITES = Number(process.env.WRITES ?? 200);
const BACKGROUND_RATE = Number(process.env.BACKGROUND_RATE ?? 200);
const USERS = 50;
// Past the L1 lifetime (10 s) a copy is re-read even without an invalidation: a read still
// stale then means the write is lost, not late.
const GIVE_UP_MS = 15_000;

const cluster = await startBenchCluster({
  instances: 2,
  users: USERS,
  perUser: 10,
  env: {
    GATEWAY_LATENCY: 'fixed:5',
    GATEWAY_FAILURE_RATE: '0',
    SHEDDING: 'off',
    RATE_LIMIT_PER_SECOND: '0',
  },
});
const [writerUrl, readerUrl] = cluster.instanceUrls as [string, string];
const agent = new Agent({ connections: 4, keepAliveTimeout: 30_000 });

async function summaryCount(userId: number): Promise<number> {
  const res = await request(`${readerUrl}/api/users/${userId}/summary`, { dispatcher: agent });
  const body = (await res.body.json()) as { payments?: number };
  if (res.statusCode !== 200 || typeof body.payments !== 'number')
    throw new Error(`summary of user ${userId}: ${res.statusCode} ${JSON.stringify(body)}`);
  return body.payments;
}

async function createPayment(userId: number, i: number): Promise<void> {
  const res = await request(`${writerUrl}/api/payments`, {
    method: 'POST',
    dispatcher: agent,
    headers: { 'content-type': 'application/json', 'idempotency-key': randomUUID() },
    body: JSON.stringify({ user_id: userId, amount: 100 + i, currency: 'EUR' }),
  });
  const text = await res.body.text();
  if (res.statusCode !== 201 && res.statusCode !== 202)
    throw new Error(`payment of user ${userId}: ${res.statusCode} ${text}`);
}

interface WriteSample {
  stalenessMs: number;
  staleReads: number;
}

async function one(i: number): Promise<WriteSample | 'lost'> {
  const userId = 1 + (i % USERS);
  await summaryCount(userId);
  const before = await summaryCount(userId);
  await createPayment(userId, i);
  const acked = performance.now();
  let staleReads = 0;
  for (;;) {
    // Staleness counts to the send of the first fresh read: a first read after the
    // acknowledgement that is already fresh is 0, whatever its own latency.
    const sent = performance.now();
    const count = await summaryCount(userId);
    if (count > before) return { stalenessMs: sent - acked, staleReads };
    staleReads++;
    if (sent - acked > GIVE_UP_MS) return 'lost';
  }
}

function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
}

const mix = JSON.parse(
  readFileSync(resolve(import.meta.dirname, '../../examples/payments-mix.json'), 'utf8'),
) as RequestMix;
const durationMs = 3_600_000;
const background = new AbortController();
const backgroundRuns: Promise<LoadResult>[] =
  BACKGROUND_RATE > 0
    ? cluster.instanceUrls.map((url, n) =>
        load(
          {
            url,
            mix,
            rate: BACKGROUND_RATE / cluster.instanceUrls.length,
            durationMs,
            warmupMs: 0,
            connections: 32,
            seed: n + 1,
          },
          { signal: background.signal },
        ),
      )
    : [];

const samples: WriteSample[] = [];
let lost = 0;
try {
  for (let i = 0; i < WRITES; i++) {
    const sample = await one(i);
    if (sample === 'lost') lost++;
    else samples.push(sample);
  }
} finally {
  background.abort();
  await Promise.allSettled(backgroundRuns);
  await agent.close();
  await cluster.stop();
}

const sorted = samples.map((s) => s.stalenessMs).sort((a, b) => a - b);
const staleAfterAck = samples.filter((s) => s.staleReads > 0).length;
const result = {
  writes: WRITES,
  backgroundRate: BACKGROUND_RATE,
  lost,
  staleAfterAck,
  stalenessMs: {
    p50: quantile(sorted, 0.5),
    p90: quantile(sorted, 0.9),
    p99: quantile(sorted, 0.99),
    max: sorted.at(-1) ?? NaN,
  },
  staleReadsMax: Math.max(0, ...samples.map((s) => s.staleReads)),
};
const ms = (v: number) => `${v.toFixed(2)} ms`;
console.log(
  `cache staleness across 2 instances sharing Redis, ${WRITES} writes, background mix at ${BACKGROUND_RATE} req/s:`,
);
console.log(
  `  from the writer's acknowledgement to the first fresh read on the other instance: p50 ${ms(result.stalenessMs.p50)}   p90 ${ms(result.stalenessMs.p90)}   p99 ${ms(result.stalenessMs.p99)}   max ${ms(result.stalenessMs.max)}`,
);
console.log(
  `  writes read stale at least once after their acknowledgement: ${staleAfterAck} of ${samples.length} (most stale reads for one write: ${result.staleReadsMax}); never fresh within ${GIVE_UP_MS} ms: ${lost}`,
);
writeResult('scale-staleness', result);
if (lost > 0) process.exitCode = 1;
