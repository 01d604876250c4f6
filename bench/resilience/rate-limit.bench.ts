/**
 * Cost of a rate-limit decision, hotpath/resilience vs rate-limiter-flexible 11.4.0 and
 * @fastify/rate-limit 11.2.0, in the same process, interleaved over rounds (medians):
 *
 * 1. local: CPU time per call over 1,000 keys next to a bare `await fn()`, every decision
 *    allowing: (b) guarded calls, a synchronous decision then `await fn()` (hotpath
 *    `tryTake(key)` and a held bucket's `tryTake()`, @fastify/rate-limit's LocalStore.incr
 *    with its synchronous callback, a bare Map lookup as the floor of any per-key limiter,
 *    and a field write on a record held by reference as the floor of a held bucket); (c) awaited decisions, `await` of
 *    the limiter's promise (hotpath `take`, RateLimiterMemory.consume).
 * 2. Redis: decisions per second with 256 callers in flight, against two floors measured
 *    beside it with the same script: floor A, one EVALSHA per decision (the round-trip floor
 *    of a limiter that does not batch), and floor B, raw pipelined EVALSHA calls carrying the
 *    same batches as the limiter's, built ahead, with no promise per decision (the floor of
 *    batching); and against RateLimiterRedis.consume.
 * 3. Fastify: CPU time per request through inject() of an app with each plugin, less the
 *    same app without one (the plugin's cost), in blocks of 250 requests taking turns; both
 *    limiters in memory, both allow, both with their default headers (hotpath: `RateLimit`;
 *    @fastify/rate-limit: three x-ratelimit-* fields), and hotpath with `headers: 'all'`.
 *
 *   npm run bench -- resilience --filter rate-limit
 *
 * Environment: HOTPATH_REDIS_URL (default the test server, redis://127.0.0.1:63799), ROUNDS
 * (7), REDIS_DECISIONS (60,000 a round), BLOCKS (60 per app).
 */
import fastifyRateLimitRival from '@fastify/rate-limit';
import Fastify from 'fastify';
import { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis } from 'rate-limiter-flexible';
import { fastifyRateLimit, LocalRateLimiter, RedisRateLimiter } from 'hotpath/resilience';
import { interleave, median, printRatios, writeResult } from '../lib/report.js';
// @fastify/rate-limit's in-memory store, the one its plugin uses by default (no types shipped).
// @ts-expect-error -- a CommonJS file with no declaration
import LocalStore from '@fastify/rate-limit/store/LocalStore.js';

const ROUNDS = Number(process.env.ROUNDS ?? 7);
const KEYS = Array.from({ length: 1000 }, (_, i) => `user:${i}`);
const medians = (r: Record<string, { median: number }>) =>
  Object.fromEntries(Object.entries(r).map(([k, v]) => [k, v.median]));

/** {@link interleave} after one unrecorded round of each candidate (JIT warm-up). */
async function warmInterleave(
  candidates: Record<string, () => Promise<number> | number>,
  rounds: number,
): ReturnType<typeof interleave> {
  for (const fn of Object.values(candidates)) await fn();
  return interleave(candidates, rounds);
}

// ---- 1. local decision ---------------------------------------------------------------------
const LOCAL_CALLS = 300_000;
// Every row awaits once per call and indexes the same key array; the bare call takes the key
// too. Rates so high that every decision allows, as on the success path.
const work = (_key: string) => Promise.resolve(1);
const local = new LocalRateLimiter({ rate: 1_000_000, burst: 1_000_000_000 });
const BUCKETS = KEYS.map((k) => local.bucket(k));
const memory = new RateLimiterMemory({ points: 1e12, duration: 60 });
const store = new LocalStore(false, false, 5000);
const MAX = 1e12;
let storeCount = 0;
const storeDone = (_error: Error | null, result: { current: number }) => {
  storeCount = result.current;
};
// A map of mutable records read once per call: the floor of any limiter that keeps a state
// per key in a Map (hotpath's own data structure, with nothing else done).
const floorMap = new Map(KEYS.map((k) => [k, { tat: 0 }]));
const HELD_RECORDS = KEYS.map((key) => ({ key, tat: 0 }));
/** CPU nanoseconds per call of LOCAL_CALLS runs of `run(i)`, each awaited. */
async function nsPerCall(run: (i: number) => unknown): Promise<number> {
  const before = process.cpuUsage();
  for (let i = 0; i < LOCAL_CALLS; i++) await run(i);
  const used = process.cpuUsage(before);
  return ((used.user + used.system) * 1000) / LOCAL_CALLS;
}
const localCandidates: Record<string, (i: number) => unknown> = {
  // (a) The call a limiter guards, alone.
  'bare await fn()': (i) => work(KEYS[i % 1000]!),
  // (b) Guarded calls: decide synchronously, then await fn(). Over (a), the decision's cost.
  'floor: Map.get(key) + field write, then await fn()': (i) => {
    const key = KEYS[i % 1000]!;
    floorMap.get(key)!.tat++;
    return work(key);
  },
  'hotpath tryTake(key).allowed, then await fn()': (i) => {
    const key = KEYS[i % 1000]!;
    return local.tryTake(key).allowed ? work(key) : undefined;
  },
  // A key held across calls (a connection, a tenant, a route): its record resolved once, so
  // no Map lookup; the same 1,000 keys, indexed like the rows above. Its floor first: a field
  // write on a record held by reference, then await fn().
  'floor: held record field write, then await fn()': (i) => {
    const record = HELD_RECORDS[i % 1000]!;
    record.tat++;
    return work(record.key);
  },
  'hotpath bucket.tryTake().allowed (key resolved once), then await fn()': (i) => {
    const bucket = BUCKETS[i % 1000]!;
    return bucket.tryTake().allowed ? work(bucket.key) : undefined;
  },
  '@fastify/rate-limit LocalStore.incr (sync callback), then await fn()': (i) => {
    const key = KEYS[i % 1000]!;
    store.incr(key, storeDone, 60_000, MAX);
    return storeCount <= MAX ? work(key) : undefined;
  },
  // (c) Awaited decisions: `await` of the limiter's promise, no fn. Over (a), the cost of a
  // decision handed back as a promise (hotpath's resolved at once, the rival's too).
  'hotpath await take(key)': (i) => local.take(KEYS[i % 1000]!),
  'rate-limiter-flexible await RateLimiterMemory.consume(key)': (i) =>
    memory.consume(KEYS[i % 1000]!),
};
// One unrecorded round of each (JIT warm-up), then ROUNDS rounds interleaved; a row's ratio
// is the median over rounds of its ns over the bare await's in the same round.
for (const run of Object.values(localCandidates)) await nsPerCall(run);
const localNs: Record<string, number[]> = {};
for (let r = 0; r < ROUNDS; r++)
  for (const [name, run] of Object.entries(localCandidates))
    (localNs[name] ??= []).push(await nsPerCall(run));
const bareNs = localNs['bare await fn()']!;
const localResult = Object.fromEntries(
  Object.entries(localNs).map(([name, ns]) => [
    name,
    { nsPerCall: median(ns), overBare: median(ns.map((v, i) => v / bareNs[i]!)), rounds: ns },
  ]),
);
console.log(
  `\nlocal decision, ${LOCAL_CALLS} calls over 1,000 keys x ${ROUNDS} rounds (CPU ns per call; x = over a bare await in the same round, median of rounds)  (node ${process.version})`,
);
const localWidth = Math.max(...Object.keys(localResult).map((n) => n.length));
for (const [name, row] of Object.entries(localResult))
  console.log(
    `  ${name.padEnd(localWidth)}  ${row.nsPerCall.toFixed(1).padStart(6)} ns  ${row.overBare.toFixed(2)}x`,
  );
const guarded = localResult['hotpath tryTake(key).allowed, then await fn()']!.overBare;
const held =
  localResult['hotpath bucket.tryTake().allowed (key resolved once), then await fn()']!.overBare;
const awaited = localResult['hotpath await take(key)']!.overBare;
const mapFloor = localResult['floor: Map.get(key) + field write, then await fn()']!.overBare;
const heldFloor = localResult['floor: held record field write, then await fn()']!.overBare;
console.log(
  `  hotpath guarded call: held bucket ${held.toFixed(2)}x a bare await (goal <= 1.2x: ${held <= 1.2 ? 'met' : 'not met'}; a held record's field write alone: ${heldFloor.toFixed(2)}x); by key ${guarded.toFixed(2)}x (a Map lookup alone: ${mapFloor.toFixed(2)}x); awaited take() ${awaited.toFixed(2)}x`,
);

// ---- 2. Redis decision ---------------------------------------------------------------------
const REDIS_URL =
  process.env.HOTPATH_REDIS_URL ?? `redis://127.0.0.1:${process.env.HOTPATH_REDIS_PORT ?? 63799}`;
// Skipped, with a note, when no Redis answers (npm run bench -- all on a machine without one).
async function redisAvailable(url: string): Promise<boolean> {
  const probe = new Redis(url, {
    lazyConnect: true,
    connectTimeout: 1000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  probe.on('error', () => undefined);
  try {
    await probe.connect();
    await probe.ping();
    return true;
  } catch {
    return false;
  } finally {
    probe.disconnect();
  }
}

async function redisPart() {
  const REDIS_DECISIONS = Number(process.env.REDIS_DECISIONS ?? 60_000);
  const IN_FLIGHT = 256;
  const prefix = `hp:bench:rl:${process.pid}:`;
  const connect = () => {
    const c = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
    c.on('error', () => undefined);
    return c;
  };
  const [ourClient, floorClient, batchClient, rivalClient] = [
    connect(),
    connect(),
    connect(),
    connect(),
  ];
  await Promise.all([ourClient, floorClient, batchClient, rivalClient].map((c) => c.ping()));
  const redisLimiter = new RedisRateLimiter({
    client: ourClient,
    rate: 1_000_000,
    burst: 1_000_000_000,
    prefix,
    timeoutMs: 10_000,
    failPolicy: 'closed',
  });
  // The limiter's own script, by the hash its first call names (the hash is not public API).
  let sha = '';
  const call = ourClient.call.bind(ourClient) as (c: string, a: (string | number)[]) => unknown;
  Object.assign(ourClient, {
    call: (command: string, args: (string | number)[]) => {
      if (command === 'EVALSHA') sha = String(args[0]);
      return call(command, args);
    },
  });
  await redisLimiter.take('warm');
  delete (ourClient as { call?: unknown }).call;
  if (sha === '') throw new Error('the limiter sent no EVALSHA');
  const { intervalUs, toleranceUs } = redisLimiter.policy;
  const rivalRedis = new RateLimiterRedis({
    storeClient: rivalClient,
    points: 1e12,
    duration: 60,
    keyPrefix: `${prefix}rlf`,
  });

  /** Decisions per second with IN_FLIGHT callers each awaiting `decide(i)` in turn. */
  async function throughput(decide: (i: number) => Promise<unknown>): Promise<number> {
    let next = 0;
    const start = performance.now();
    const caller = async () => {
      while (next < REDIS_DECISIONS) await decide(next++);
    };
    await Promise.all(Array.from({ length: IN_FLIGHT }, caller));
    return REDIS_DECISIONS / ((performance.now() - start) / 1000);
  }

  // The floor of batching: the limiter's calls for one turn of IN_FLIGHT decisions (two calls
  // of 128), built ahead, IN_FLIGHT / 128 calls in flight, no promise per decision.
  const batchArgs = (offset: number): (string | number)[] => {
    const n = 128;
    const args: (string | number)[] = [sha, n];
    for (let i = 0; i < n; i++) args.push(prefix + KEYS[(offset + i) % 1000]!);
    // As the limiter sends a batch of unit costs on the server's clock: no cost arguments.
    args.push(intervalUs, toleranceUs, 'u');
    return args;
  };
  const prebuilt = [0, 128, 256, 384, 512, 640, 768, 896].map(batchArgs);
  async function batchFloor(): Promise<number> {
    const calls = REDIS_DECISIONS / 128;
    let next = 0;
    const start = performance.now();
    const lane = async () => {
      while (next < calls) await batchClient.call('EVALSHA', prebuilt[next++ % 8]!);
    };
    await Promise.all(Array.from({ length: IN_FLIGHT / 128 }, lane));
    return (calls * 128) / ((performance.now() - start) / 1000);
  }

  const redisCpu: Record<string, number[]> = {};
  const withCpu = (name: string, run: () => Promise<number>) => async () => {
    const before = process.cpuUsage();
    const rate = await run();
    const used = process.cpuUsage(before);
    (redisCpu[name] ??= []).push((used.user + used.system) / REDIS_DECISIONS);
    return rate;
  };
  const redisResult = await warmInterleave(
    {
      'hotpath RedisRateLimiter.take': withCpu('hotpath RedisRateLimiter.take', () =>
        throughput((i) => redisLimiter.take(KEYS[i % 1000]!)),
      ),
      'floor A: raw EVALSHA, one decision per call': withCpu(
        'floor A: raw EVALSHA, one decision per call',
        () =>
          throughput((i) =>
            floorClient.call('EVALSHA', [
              sha,
              1,
              prefix + KEYS[i % 1000]!,
              intervalUs,
              toleranceUs,
              'u',
            ]),
          ),
      ),
      'floor B: raw EVALSHA, pipelined batches of 128': withCpu(
        'floor B: raw EVALSHA, pipelined batches of 128',
        batchFloor,
      ),
      'rate-limiter-flexible RateLimiterRedis': withCpu(
        'rate-limiter-flexible RateLimiterRedis',
        () => throughput((i) => rivalRedis.consume(KEYS[i % 1000]!)),
      ),
    },
    Math.max(3, Math.ceil(ROUNDS / 2)),
  );
  printRatios(
    `Redis decision, ${REDIS_DECISIONS} decisions, ${IN_FLIGHT} in flight (ratio = hotpath's throughput / the row's)`,
    medians(redisResult),
    'decisions/s',
    'hotpath RedisRateLimiter.take',
  );
  const cpuMedians = Object.fromEntries(
    Object.entries(redisCpu).map(([k, v]) => [k, [...v].sort((a, b) => a - b)[v.length >> 1]!]),
  );
  for (const [name, us] of Object.entries(cpuMedians))
    console.log(`  ${name}: ${us.toFixed(2)} µs CPU per decision in this process`);
  const ours = redisResult['hotpath RedisRateLimiter.take']!.median;
  const overA = (100 * ours) / redisResult['floor A: raw EVALSHA, one decision per call']!.median;
  const overB =
    (100 * ours) / redisResult['floor B: raw EVALSHA, pipelined batches of 128']!.median;
  console.log(
    `  hotpath / floor A (one EVALSHA round trip per decision, what an unbatched limiter pays): ${overA.toFixed(0)}% (goal >= 95%: ${overA >= 95 ? 'met' : 'not met'})`,
  );
  console.log(
    `  hotpath / floor B (the limiter's own batches as raw pipelined EVALSHAs, built ahead, no promise per decision): ${overB.toFixed(0)}% (goal >= 95%: ${overB >= 95 ? 'met' : 'not met'})`,
  );
  await redisLimiter.close();
  const stale = await ourClient.keys(`${prefix}*`);
  for (let i = 0; i < stale.length; i += 500) await ourClient.del(...stale.slice(i, i + 500));
  for (const c of [ourClient, floorClient, batchClient, rivalClient]) c.disconnect();
  return { redis: redisResult, redisCpuUsPerDecision: cpuMedians };
}

const redisFigures = (await redisAvailable(REDIS_URL))
  ? await redisPart()
  : (console.log(`Redis decision: skipped, no Redis answers at ${REDIS_URL}`), undefined);

// ---- 3. Fastify plugin ---------------------------------------------------------------------
async function app(register?: (f: ReturnType<typeof Fastify>) => Promise<unknown>) {
  const f = Fastify();
  if (register !== undefined) await register(f);
  f.get('/', () => ({ ok: true }));
  await f.ready();
  return f;
}
const bare = await app();
const oursApp = await app((f) =>
  f.register(fastifyRateLimit, {
    limiter: new LocalRateLimiter({ rate: 1_000_000, burst: 1_000_000_000 }),
  }),
);
const oursAllApp = await app((f) =>
  f.register(fastifyRateLimit, {
    limiter: new LocalRateLimiter({ rate: 1_000_000, burst: 1_000_000_000 }),
    headers: 'all',
  }),
);
const rivalApp = await app((f) =>
  f.register(fastifyRateLimitRival, { max: 1_000_000_000, timeWindow: 60_000 }),
);
for (const f of [bare, oursApp, oursAllApp, rivalApp]) {
  const r = await f.inject('/');
  if (r.statusCode !== 200) throw new Error(`warm-up answered ${r.statusCode}`);
}
// Requests in blocks of BLOCK, the three apps in turn (rotating which goes first) for BLOCKS
// rounds: a plugin's cost is the median over blocks of its app's CPU time per request less
// the bare app's in the same round, so load from other work on the machine cancels out.
const BLOCK = 250;
const BLOCKS = Number(process.env.BLOCKS ?? 60);
const apps = {
  'no plugin (baseline)': bare,
  'hotpath fastifyRateLimit': oursApp,
  "hotpath fastifyRateLimit, headers: 'all'": oursAllApp,
  '@fastify/rate-limit': rivalApp,
};
const names = Object.keys(apps) as (keyof typeof apps)[];
const usPerRequest: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
for (let b = 0; b < BLOCKS; b++) {
  for (let k = 0; k < names.length; k++) {
    const name = names[(b + k) % names.length]!;
    const f = apps[name];
    const before = process.cpuUsage();
    for (let i = 0; i < BLOCK; i++) await f.inject('/');
    const used = process.cpuUsage(before);
    usPerRequest[name]!.push((used.user + used.system) / BLOCK);
  }
}
const pairedCost = (name: string) =>
  median(usPerRequest[name]!.map((us, b) => us - usPerRequest['no plugin (baseline)']![b]!));
const pluginResult = Object.fromEntries(
  names.map((n) => [n, { median: 1e6 / median(usPerRequest[n]!), rounds: usPerRequest[n]! }]),
);
printRatios(
  `Fastify plugin, inject(), ${BLOCKS} blocks of ${BLOCK} requests per app`,
  medians(pluginResult),
  'requests/CPU-s',
  'hotpath fastifyRateLimit',
);
// The machine's other work makes per-block times bimodal (a quiet mode and one several times
// slower); the 10th percentile of each app's blocks is its quiet-mode cost.
const p10 = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 10)]!;
const baseUs = median(usPerRequest['no plugin (baseline)']!);
const quietBase = p10(usPerRequest['no plugin (baseline)']!);
const costs = Object.fromEntries(
  names
    .filter((n) => n !== 'no plugin (baseline)')
    .map((n) => [n, { paired: pairedCost(n), quiet: p10(usPerRequest[n]!) - quietBase }]),
);
const ourCost = costs['hotpath fastifyRateLimit']!;
const rivalCost = costs['@fastify/rate-limit']!;
for (const [n, c] of Object.entries(costs))
  console.log(
    `  ${n}: ${c.quiet.toFixed(2)} µs per request over the bare app (10th percentiles), ${c.paired.toFixed(2)} µs (paired medians)`,
  );
console.log(
  `  hotpath / @fastify/rate-limit plugin cost: ${(ourCost.quiet / rivalCost.quiet).toFixed(2)}x (10th percentiles), ${(ourCost.paired / rivalCost.paired).toFixed(2)}x (paired medians) (goal <= 0.5x); bare app ${quietBase.toFixed(2)} µs (p10), ${baseUs.toFixed(2)} µs (median)`,
);
await Promise.all([bare.close(), oursApp.close(), oursAllApp.close(), rivalApp.close()]);

writeResult('resilience-rate-limit', {
  local: localResult,
  ...redisFigures,
  plugin: pluginResult,
  pluginCostUs: { ...costs, baseline: { median: baseUs, p10: quietBase } },
  pluginBlocks: { block: BLOCK, blocks: BLOCKS },
  rounds: ROUNDS,
});
