/**
 * `npm run faults`: the long fault run, apart from CI. Many payments at a constant arrival
 * rate against the payments service, while the gateway simulator drops a share of its charge
 * answers after charging, answers late in short windows, and the service is killed (SIGKILL)
 * and restarted again and again; then every payment must be in the gateway's state, and the
 * time from an unknown outcome to its resolution is shown as a histogram. Uses the fault
 * suite's harness (test/faults/): its own PostgreSQL, Redis, simulator and service processes.
 *
 *   node --conditions=source --import tsx scripts/faults.ts --help
 */
import { parseArgs } from 'node:util';
import { connectPostgres } from 'hotpath/db';
import { Histogram } from 'hotpath/metrics';
import {
  assertMoneyInvariant,
  faultSuiteSkip,
  FaultCluster,
  Scenario,
  sleep,
  type ScenarioResult,
} from '../test/faults/harness.js';

const HELP = `usage: npm run faults -- [options]

A long fault run of the payments service (its own PostgreSQL, Redis, gateway simulator and
service processes on 127.0.0.1): payments at a constant arrival rate, each with its own
Idempotency-Key, while
  - the simulator's latency (--latency, before it charges) is above the service's gateway
    timeout (250 ms) for about 10% of charges: with --retries 0 the service's lookup comes
    before the charge exists, so the outcome is unknown (202) and the reconciler settles it,
  - the simulator drops --drop-rate of its charge answers after charging (the service cannot
    know the outcome from the answer; its lookup can),
  - every --late-every seconds, for --late-ms, it answers charges only after 3 x the service's
    gateway timeout (charged, answer too late),
  - the service is killed (SIGKILL) and restarted every --crash-every seconds.
Requests that got no answer or a 5xx are sent once more with the same key at the end. Then it
waits until no payment is pending and checks the money invariant: exit 0 when nothing is lost,
double-charged or mismatched and nothing is pending; 1 when the invariant is broken; 2 on a
usage error or when the run could not start.

options:
  --payments N      payments to send (default 100000)
  --rate R          payments per second (default 300)
  --crash-every S   seconds between SIGKILLs of the service; 0: never (default 10)
  --latency SPEC    the simulator's GATEWAY_LATENCY (default lognormal:80:600)
  --retries N       the service's GATEWAY_RETRIES (default 0)
  --drop-rate P     share of charge answers dropped after the charge, 0..1 (default 0.05)
  --late-every S    seconds between late-answer windows; 0: none (default 60)
  --late-ms MS      length of a late-answer window (default 300)
  -h, --help        this text
`;

const GATEWAY_TIMEOUT_MS = 250;

class UsageError extends Error {}

interface Args {
  payments: number;
  rate: number;
  crashEveryS: number;
  latency: string;
  retries: number;
  dropRate: number;
  lateEveryS: number;
  lateMs: number;
}

function number(name: string, raw: string | undefined, fallback: number, max: number): number {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(value) || value < 0 || value > max)
    throw new UsageError(`--${name}: expected a number in [0, ${max}], got "${raw}"`);
  return value;
}

function parse(argv: string[]): Args | 'help' {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        payments: { type: 'string' },
        rate: { type: 'string' },
        'crash-every': { type: 'string' },
        latency: { type: 'string' },
        retries: { type: 'string' },
        'drop-rate': { type: 'string' },
        'late-every': { type: 'string' },
        'late-ms': { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (values.help) return 'help';
  const args: Args = {
    payments: number('payments', values.payments, 100_000, 100_000_000),
    rate: number('rate', values.rate, 300, 100_000),
    crashEveryS: number('crash-every', values['crash-every'], 10, 86_400),
    latency: values.latency ?? 'lognormal:80:600',
    retries: number('retries', values.retries, 0, 10),
    dropRate: number('drop-rate', values['drop-rate'], 0.05, 1),
    lateEveryS: number('late-every', values['late-every'], 60, 86_400),
    lateMs: number('late-ms', values['late-ms'], 300, 3_600_000),
  };
  if (!Number.isInteger(args.retries))
    throw new UsageError(`--retries: expected an integer, got ${args.retries}`);
  if (!Number.isInteger(args.payments) || args.payments < 1)
    throw new UsageError(`--payments: expected a positive integer, got ${args.payments}`);
  if (args.rate <= 0) throw new UsageError('--rate: expected a number above 0');
  return args;
}

/** Repeats `step` every `everyS` seconds until `ended` aborts; a step is never cut short. */
async function every(everyS: number, ended: AbortSignal, step: () => Promise<void>) {
  if (everyS <= 0) return;
  let timer: NodeJS.Timeout | undefined;
  const end = new Promise<void>((resolve) =>
    ended.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    ),
  );
  for (;;) {
    await Promise.race([
      new Promise((resolve) => (timer = setTimeout(resolve, everyS * 1000))),
      end,
    ]);
    if (ended.aborted) return;
    await step();
  }
}

const ms = (value: number) =>
  value >= 1000 ? `${(value / 1000).toFixed(2)} s` : `${value.toFixed(0)} ms`;

/** A histogram as text: percentiles, then a bar per bucket (bounds in ms, doubling). */
function histogramText(title: string, h: Histogram): string[] {
  if (h.count === 0) return [`${title}: none`];
  const lines = [
    `${title}: ${h.count} payments`,
    `  p50 ${ms(h.percentile(50))}, p90 ${ms(h.percentile(90))}, p99 ${ms(h.percentile(99))}, max ${ms(h.max)}`,
  ];
  const bounds: number[] = [];
  for (let b = 16; b < h.max * 2; b *= 2) bounds.push(b);
  let below = 0;
  const widest = Math.max(...bounds.map((b) => h.countBelow(b)));
  let from = 0;
  for (const bound of bounds) {
    const upTo = h.countBelow(bound);
    const n = upTo - below;
    below = upTo;
    if (n > 0) {
      const bar = '#'.repeat(Math.max(1, Math.round((n / widest) * 40)));
      lines.push(`  ${`${ms(from)} - ${ms(bound)}`.padEnd(20)} ${String(n).padStart(8)}  ${bar}`);
    }
    from = bound;
  }
  return lines;
}

/**
 * Creation to final state of every payment, and of those whose final state the client was
 * not told by a 201 (answered 202, or no answer): settled later, by a retry or the reconciler.
 */
async function resolutionTimes(
  result: ScenarioResult,
  databaseUrl: string,
): Promise<{ all: Histogram; unknown: Histogram }> {
  const db = await connectPostgres(databaseUrl);
  try {
    const { rows } = await db.query<{ id: string; ms: string }>(
      `SELECT id::text AS id,
         (extract(epoch FROM updated_at - created_at) * 1000)::text AS ms
       FROM payments WHERE status <> 'pending'`,
    );
    const all = new Histogram({ lowest: 0.01, highest: 3_600_000 });
    const unknown = new Histogram({ lowest: 0.01, highest: 3_600_000 });
    for (const row of rows) {
      const value = Math.max(0.01, Number(row.ms));
      all.record(value);
      const answer = result.run.acknowledged.get(row.id);
      if (answer?.httpStatus !== 201 || answer.replayed === true) unknown.record(value);
    }
    return { all, unknown };
  } finally {
    await db.close();
  }
}

async function main(args: Args): Promise<number> {
  const skip = faultSuiteSkip();
  if (skip !== false) {
    console.error(`faults: cannot run: ${skip}`);
    return 2;
  }
  console.log(
    `faults: ${args.payments} payments at ${args.rate}/s (about ${ms((args.payments / args.rate) * 1000)}), ` +
      `gateway latency ${args.latency} against a ${GATEWAY_TIMEOUT_MS} ms timeout with ${args.retries} retries, ` +
      `${(args.dropRate * 100).toFixed(0)}% of charge answers dropped after the charge, ` +
      `${args.lateEveryS > 0 ? `late answers for ${args.lateMs} ms every ${args.lateEveryS} s` : 'no late answers'}, ` +
      `${args.crashEveryS > 0 ? `service SIGKILL every ${args.crashEveryS} s` : 'no crashes'}`,
  );
  const started = performance.now();
  const cluster = await FaultCluster.start();
  let crashes = 0;
  let lateWindows = 0;
  try {
    const scenario = await Scenario.start(cluster, 'long run', {
      gateway: { latency: args.latency },
      service: { gatewayTimeoutMs: GATEWAY_TIMEOUT_MS, gatewayRetries: args.retries },
    });
    const result = await scenario.run({
      rate: args.rate,
      payments: args.payments,
      faultAtMs: 0,
      resendUnanswered: true,
      drainTimeoutMs: 120_000,
      fault: async (s, healed, loadEnded) => {
        await s.gateway.setFaults({ dropAfterCommitRate: args.dropRate });
        await Promise.all([
          every(args.crashEveryS, loadEnded, async () => {
            await s.service.stop('SIGKILL');
            crashes += 1;
            await s.service.start();
          }),
          every(args.lateEveryS, loadEnded, async () => {
            await s.gateway.setFaults({ lateAnswerMs: GATEWAY_TIMEOUT_MS * 3 });
            lateWindows += 1;
            await sleep(args.lateMs);
            await s.gateway.setFaults({ lateAnswerMs: 0 });
          }),
        ]);
        healed();
        await s.gateway.clearFaults();
      },
    });
    console.log(`service crashes ${crashes}, late-answer windows ${lateWindows}`);
    const { all, unknown } = await resolutionTimes(result, scenario.databaseUrl);
    for (const line of [
      ...histogramText('creation to final state, every payment', all),
      ...histogramText(
        'unknown to resolved: creation to final state of payments no 201 answered (202, or no answer)',
        unknown,
      ),
    ])
      console.log(line);
    try {
      assertMoneyInvariant(result);
    } catch (error) {
      console.error(`faults: the money invariant is broken:\n${(error as Error).message}`);
      return 1;
    }
    console.log(`faults: the money invariant holds (${ms(performance.now() - started)} in all)`);
    return 0;
  } finally {
    await cluster.close();
  }
}

let args: Args | 'help';
try {
  args = parse(process.argv.slice(2));
} catch (error) {
  if (!(error instanceof UsageError)) throw error;
  console.error(`faults: ${error.message}\n\n${HELP}`);
  process.exit(2);
}
if (args === 'help') {
  console.log(HELP);
  process.exit(0);
}
try {
  process.exitCode = await main(args);
} catch (error) {
  console.error(`faults: the run failed: ${(error as Error).stack ?? String(error)}`);
  process.exitCode = 2;
}
