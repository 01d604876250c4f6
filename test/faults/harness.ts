/**
 * The fault harness: its own PostgreSQL and Redis (a {@link FaultCluster} per test file), and
 * per scenario a fresh database, a gateway simulator with a ledger file and the payments
 * service pointed at it. A scenario runs steady open-model payments while its fault is
 * injected and healed, then waits (bounded) until no payment is pending and checks the money
 * invariant against the gateway's ledger.
 *
 *   load   |=============================================|
 *   fault        inject ------- heal
 *                               |-- ready (GET /health/ready 200)
 *                               |-- serving (last answer that was not a definite 201)
 *                               |------------------------------- drained (0 pending)
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { connectPostgres, type Database } from 'hotpath/db';
import { checkInvariant, type InvariantReport } from '../../service/invariant/index.js';
import { waitFor } from './child-process.js';
import type { FaultCluster } from './fault-cluster.js';
import { GatewayProcess, type GatewaySettings } from './gateway-process.js';
import {
  isDefinite,
  resendUnanswered,
  runPayments,
  type PaymentAnswer,
  type PaymentsRun,
} from './payments-load.js';
import { printResult } from './scenario-report.js';
import { ServiceProcess, type ServiceSettings } from './service-process.js';

/** Sleeps `ms`: the fault suite works in real time against real processes. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Options of {@link Scenario.start}. */
export interface ScenarioOptions {
  gateway?: GatewaySettings;
  service?: Partial<Omit<ServiceSettings, 'databaseUrl' | 'redisUrl' | 'gatewayUrl'>>;
}

/**
 * What a fault does, given the scenario; it calls `healed()` when the fault is over.
 * `loadEnded` aborts when the load has ended (for faults repeated while it runs).
 */
export type Fault = (
  scenario: Scenario,
  healed: () => void,
  loadEnded: AbortSignal,
) => Promise<void>;

/** Options of {@link Scenario.run}. */
export interface RunOptions {
  /** Payments per second. Default 150. */
  rate?: number;
  /** Length of the load. Default 8,000 ms, unless `payments` is given. */
  durationMs?: number;
  /** Stop the load after this many payments instead. */
  payments?: number;
  /** Started this long after the load. Default 1,500 ms. */
  faultAtMs?: number;
  fault: Fault;
  /** Longest wait for no payment pending after the load. Default 60,000 ms. */
  drainTimeoutMs?: number;
  /**
   * After the load, send each request that got no answer or a 5xx once more with the same
   * Idempotency-Key, as a retrying client would. Default false.
   */
  resendUnanswered?: boolean;
}

/** Recovery times after the fault was healed, in ms (undefined: not reached). */
export interface Recovery {
  /** Until /health/ready answered 200 ready. */
  readyMs: number | undefined;
  /** Until the last answer that was not a definite 201 (0: none after the heal). */
  servingMs: number;
  /**
   * Until the last payment that no 201 answered (202, or no answer) was settled: its
   * `updated_at` (0: all settled before the heal; undefined: some still pending).
   */
  drainedMs: number | undefined;
}

/** What a scenario measured and found. */
export interface ScenarioResult {
  name: string;
  run: PaymentsRun;
  recovery: Recovery;
  /** Share of requests sent answered 2xx. */
  successShare: number;
  report: InvariantReport;
  /**
   * Answers the database contradicts: a final state (201) stored otherwise, or an id whose
   * row holds another Idempotency-Key.
   */
  contradicted: { id: string; answered: string; stored: string }[];
  /** Answers to the requests sent again (`resendUnanswered`). */
  resent: PaymentAnswer[];
  /** Rows by status and failure reason, e.g. `failed gateway_circuit_open`. */
  outcomes: Record<string, number>;
  /** Payments no 201 answered (202, or no answer): settled after their request ended. */
  settledLater: number;
}

/** One scenario: a database, a gateway and a service of its own on the cluster. */
export class Scenario {
  readonly name: string;
  readonly cluster: FaultCluster;
  readonly gateway: GatewayProcess;
  readonly service: ServiceProcess;
  readonly databaseUrl: string;

  private constructor(
    name: string,
    cluster: FaultCluster,
    gateway: GatewayProcess,
    service: ServiceProcess,
    databaseUrl: string,
  ) {
    this.name = name;
    this.cluster = cluster;
    this.gateway = gateway;
    this.service = service;
    this.databaseUrl = databaseUrl;
  }

  /** Creates the database, starts the gateway and the service, and waits until it is ready. */
  static async start(
    cluster: FaultCluster,
    name: string,
    options: ScenarioOptions = {},
  ): Promise<Scenario> {
    const slug = `${name
      .replace(/[^a-z0-9]+/gi, '_')
      .toLowerCase()
      .slice(0, 30)}_${randomBytes(3).toString('hex')}`;
    const dir = join(cluster.dir, slug);
    mkdirSync(dir, { recursive: true });
    const databaseUrl = await cluster.postgres.createDatabase(`faults_${slug}`);
    const gateway = await GatewayProcess.start(join(dir, 'ledger.ndjson'), options.gateway);
    const service = await ServiceProcess.start({
      ...options.service,
      databaseUrl,
      redisUrl: cluster.redis.url,
      gatewayUrl: gateway.url,
    });
    await service.waitReady(30_000);
    return new Scenario(name, cluster, gateway, service, databaseUrl);
  }

  /** Runs the load with the fault, waits for pending payments to drain, checks the invariant. */
  async run(options: RunOptions): Promise<ScenarioResult> {
    const rate = options.rate ?? 150;
    let healedAt: number | undefined;
    let healedWallMs: number | undefined;
    let readyAt: number | undefined;
    let readyPoll: Promise<void> = Promise.resolve();
    const healed = () => {
      if (healedAt !== undefined) return;
      healedAt = performance.now();
      healedWallMs = Date.now();
      readyPoll = this.service
        .waitReady(60_000)
        .then(() => {
          readyAt = performance.now();
        })
        .catch(() => {});
    };
    const loadEnded = new AbortController();
    const loadRun = runPayments({
      url: this.service.url,
      rate,
      ...(options.payments === undefined
        ? { durationMs: options.durationMs ?? 8000 }
        : { payments: options.payments }),
      keyPrefix: `${this.name.replace(/\W+/g, '-')}-${randomBytes(4).toString('hex')}`,
    }).finally(() => loadEnded.abort());
    let faultError: unknown;
    const fault = sleep(options.faultAtMs ?? 1500)
      .then(() => options.fault(this, healed, loadEnded.signal))
      .catch((error: unknown) => {
        faultError = error;
      })
      .finally(healed);
    const run = await loadRun;
    await fault;
    if (faultError !== undefined) throw faultError;
    await readyPoll;
    const resent =
      options.resendUnanswered === true ? await resendUnanswered(this.service.url, run) : [];

    const db = await connectPostgres(this.databaseUrl);
    try {
      let isDrained = true;
      try {
        await waitFor(
          `${this.name}: no payment pending`,
          async () => (await pendingCount(db)) === 0,
          options.drainTimeoutMs ?? 60_000,
          100,
        );
      } catch {
        // Reported below as pending payments, with their ids.
        isDrained = false;
      }
      const report = await checkInvariant({
        db,
        gatewayUrl: this.gateway.url,
        acknowledged: run.acknowledged.keys(),
      });
      const stored = await storedStates(db);
      const contradicted: ScenarioResult['contradicted'] = [];
      for (const [id, answer] of run.acknowledged) {
        const row = stored.get(id);
        if (row === undefined) continue;
        // One key, one payment: an answer (first or replayed) names the key's row.
        if (row.key !== answer.key)
          contradicted.push({ id, answered: `key ${answer.key}`, stored: `key ${row.key}` });
        else if (answer.httpStatus === 201 && row.status !== answer.status)
          contradicted.push({ id, answered: answer.status ?? '', stored: row.status });
      }
      const since = (at: number | undefined) =>
        at === undefined || healedAt === undefined ? undefined : Math.max(0, at - healedAt);
      const lastBad = lastNonDefinite(run.answers);
      // Payments whose final state no 201 told: settled after their request, by the reconciler.
      const settledLater = await lastSettledLater(db, run, healedWallMs ?? Date.now());
      const result: ScenarioResult = {
        name: this.name,
        run,
        recovery: {
          readyMs: since(readyAt),
          servingMs: since(lastBad) ?? 0,
          drainedMs: isDrained ? settledLater.drainedMs : undefined,
        },
        successShare: run.sent === 0 ? 0 : run.succeeded / run.sent,
        report,
        contradicted,
        resent,
        outcomes: await outcomeCounts(db),
        settledLater: settledLater.count,
      };
      printResult(result);
      return result;
    } finally {
      await db.close();
    }
  }
}

async function pendingCount(db: Database): Promise<number> {
  const { rows } = await db.query<{ n: string }>(
    `SELECT count(*)::text AS n FROM payments WHERE status = 'pending'`,
  );
  return Number(rows[0]?.n ?? 0);
}

async function storedStates(db: Database): Promise<Map<string, { status: string; key: string }>> {
  const { rows } = await db.query<{ id: string; status: string; key: string }>(
    'SELECT id::text AS id, status, idempotency_key AS key FROM payments',
  );
  return new Map(rows.map((r) => [r.id, { status: r.status, key: r.key }]));
}

async function outcomeCounts(db: Database): Promise<Record<string, number>> {
  const { rows } = await db.query<{ outcome: string; n: string }>(
    `SELECT status || coalesce(' ' || failure_reason, '') AS outcome, count(*)::text AS n
     FROM payments GROUP BY 1 ORDER BY 1`,
  );
  return Object.fromEntries(rows.map((r) => [r.outcome, Number(r.n)]));
}

/** How many payments no 201 answered, and when the last of them was settled after `healedWallMs`. */
async function lastSettledLater(
  db: Database,
  run: PaymentsRun,
  healedWallMs: number,
): Promise<{ count: number; drainedMs: number }> {
  const { rows } = await db.query<{ id: string; updated_ms: string }>(
    `SELECT id::text AS id, (extract(epoch FROM updated_at) * 1000)::bigint::text AS updated_ms
     FROM payments WHERE status <> 'pending'`,
  );
  let count = 0;
  let last = healedWallMs;
  for (const row of rows) {
    const answer = run.acknowledged.get(row.id);
    if (answer?.httpStatus === 201 && answer.replayed !== true) continue;
    count += 1;
    last = Math.max(last, Number(row.updated_ms));
  }
  return { count, drainedMs: last - healedWallMs };
}

function lastNonDefinite(answers: readonly PaymentAnswer[]): number | undefined {
  let last: number | undefined;
  for (const a of answers) if (!isDefinite(a) && (last === undefined || a.at > last)) last = a.at;
  return last;
}

export { FaultCluster, faultSuiteSkip } from './fault-cluster.js';
export {
  assertMoneyInvariant,
  failedForWantOfAnAnswer,
  NOTHING_SENT_REASONS,
  printResult,
} from './scenario-report.js';
