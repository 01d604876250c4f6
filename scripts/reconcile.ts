/**
 * `npm run reconcile`: checks the money invariant between the service's payments table and
 * the gateway simulator's ledger (service/invariant) and exits 0 when it holds, 1 when a
 * payment is lost, double-charged or mismatched, 2 on a usage error or when the check could
 * not run.
 *
 *   node --conditions=source --import tsx scripts/reconcile.ts --help
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { createDatabase, type Database } from 'hotpath/db';
import { checkInvariant, formatReport } from '../service/invariant/index.js';

const HELP = `usage: npm run reconcile -- [options]

Checks that the payments service's records and the gateway simulator's ledger agree.
Exit code 0: the invariant holds (pending payments and orphan charges are reported, not
failures); 1: a payment is lost, double-charged or mismatched; 2: usage error, or the
database or the gateway could not be read.

database (one of):
  --database-url URL   PostgreSQL server                       (env DATABASE_URL)
  --data-dir DIR       embedded PGlite data directory; stop the service first: PGlite
                       allows one process per directory         (env DATA_DIR)
  --database-shard-urls URL,URL,...
                       every shard of a sharded service, in shard order
                                                               (env DATABASE_SHARD_URLS)
gateway ledger (one of):
  --gateway-url URL    the running simulator, GET /v1/ledger   (env GATEWAY_URL;
                       default http://127.0.0.1:$GATEWAY_PORT, GATEWAY_PORT default 3001)
  --ledger-file FILE   the simulator's ledger file, read directly (env GATEWAY_LEDGER_FILE,
                       used when no gateway URL is given)
options:
  --acknowledged FILE  payment ids clients were answered 201/202 for, one per line:
                       each must have a payments row
  --json               print the whole report as JSON instead of text
  --max-issues N       issues listed per category in the text report (default 20)
  -h, --help           this text
`;

class UsageError extends Error {}

interface Args {
  database: { url: string } | { dataDir: string } | { shardUrls: string[] };
  ledger: { gatewayUrl: string } | { ledgerFile: string };
  acknowledged: string | undefined;
  json: boolean;
  maxIssues: number;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

function parse(argv: string[], env: NodeJS.ProcessEnv): Args | 'help' {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        'database-url': { type: 'string' },
        'data-dir': { type: 'string' },
        'database-shard-urls': { type: 'string' },
        'gateway-url': { type: 'string' },
        'ledger-file': { type: 'string' },
        acknowledged: { type: 'string' },
        json: { type: 'boolean', default: false },
        'max-issues': { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (values.help) return 'help';

  const given = ['database-url', 'data-dir', 'database-shard-urls'] as const;
  if (given.filter((flag) => values[flag] !== undefined).length > 1)
    throw new UsageError('--database-url, --data-dir, --database-shard-urls: give one');
  const shardList =
    nonEmpty(values['database-shard-urls']) ??
    (values['database-url'] === undefined && values['data-dir'] === undefined
      ? nonEmpty(env.DATABASE_SHARD_URLS)
      : undefined);
  const url =
    nonEmpty(values['database-url']) ??
    (values['data-dir'] === undefined ? nonEmpty(env.DATABASE_URL) : undefined);
  const dataDir = nonEmpty(values['data-dir']) ?? nonEmpty(env.DATA_DIR);
  let database: Args['database'];
  if (shardList !== undefined) {
    const shardUrls = shardList.split(',').map((u) => u.trim());
    for (const shardUrl of shardUrls)
      if (!/^postgres(ql)?:\/\//.test(shardUrl))
        throw new UsageError(`--database-shard-urls: expected postgres://…, got "${shardUrl}"`);
    database = { shardUrls };
  } else if (url !== undefined) {
    if (!/^postgres(ql)?:\/\//.test(url))
      throw new UsageError(`--database-url: expected postgres://…, got "${url}"`);
    database = { url };
  } else if (dataDir !== undefined) database = { dataDir };
  else
    throw new UsageError(
      'no database: give --database-url (DATABASE_URL) or --data-dir (DATA_DIR)',
    );

  if (values['gateway-url'] !== undefined && values['ledger-file'] !== undefined)
    throw new UsageError('--gateway-url, --ledger-file: give one');
  let ledger: Args['ledger'];
  const ledgerFile =
    nonEmpty(values['ledger-file']) ??
    (values['gateway-url'] === undefined && nonEmpty(env.GATEWAY_URL) === undefined
      ? nonEmpty(env.GATEWAY_LEDGER_FILE)
      : undefined);
  if (ledgerFile !== undefined) ledger = { ledgerFile };
  else {
    const gatewayUrl =
      nonEmpty(values['gateway-url']) ??
      nonEmpty(env.GATEWAY_URL) ??
      `http://127.0.0.1:${nonEmpty(env.GATEWAY_PORT) ?? 3001}`;
    try {
      const parsed = new URL(gatewayUrl);
      if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new Error();
    } catch {
      throw new UsageError(`--gateway-url: expected http(s)://…, got "${gatewayUrl}"`);
    }
    ledger = { gatewayUrl };
  }

  const maxIssues = Number(values['max-issues'] ?? 20);
  if (!Number.isInteger(maxIssues) || maxIssues < 0)
    throw new UsageError(`--max-issues: expected an integer >= 0, got "${values['max-issues']}"`);
  return {
    database,
    ledger,
    acknowledged: nonEmpty(values.acknowledged),
    json: values.json,
    maxIssues,
  };
}

function readAcknowledged(file: string): string[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '');
}

async function main(argv: string[]): Promise<number> {
  let args: Args | 'help';
  try {
    args = parse(argv, process.env);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`reconcile: ${error.message} (see --help)`);
    return 2;
  }
  if (args === 'help') {
    process.stdout.write(HELP);
    return 0;
  }

  let acknowledged: string[] | undefined;
  const dbs: Database[] = [];
  try {
    if (args.acknowledged !== undefined) acknowledged = readAcknowledged(args.acknowledged);
    const database = args.database;
    if ('shardUrls' in database) {
      for (const url of database.shardUrls) dbs.push(await createDatabase({ url, poolMax: 2 }));
    } else {
      dbs.push(
        await createDatabase('url' in database ? { url: database.url, poolMax: 2 } : database),
      );
    }
    const report = await checkInvariant({
      db: dbs,
      ...args.ledger,
      ...(acknowledged === undefined ? {} : { acknowledged }),
    });
    console.log(
      args.json
        ? JSON.stringify(report, null, 2)
        : formatReport(report, { maxIssues: args.maxIssues }),
    );
    return report.ok ? 0 : 1;
  } catch (error) {
    console.error(`reconcile: the check could not run: ${(error as Error).message}`);
    return 2;
  } finally {
    await Promise.all(dbs.map((db) => db.close()));
  }
}

process.exitCode = await main(process.argv.slice(2));
