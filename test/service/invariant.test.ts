import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import { connectPostgres, migrate, startEmbedded, type Database } from 'hotpath/db';
import { request } from 'undici';
import { parseLatency } from '../../service/gateway/latency.js';
import { createGatewayServer } from '../../service/gateway/simulator.js';
import {
  checkInvariant,
  formatReport,
  type InvariantReport,
} from '../../service/invariant/index.js';
import { migrations } from '../../service/migrations/index.js';
import { createTestDatabase, postgresForTests } from '../helpers/services.js';

const root = resolve(import.meta.dirname, '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'hp-invariant-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;

interface Row {
  id: string;
  status: 'pending' | 'authorized' | 'declined' | 'failed';
  amount?: number;
  currency?: string;
  gatewayRef?: string | null;
  idempotencyKey?: string | null;
}

async function insert(db: Database, ...rows: Row[]): Promise<void> {
  for (const row of rows) {
    await db.query(
      `INSERT INTO payments (id, user_id, amount, currency, status, gateway_ref, idempotency_key)
       VALUES ($1, 1, $2, $3, $4, $5, $6)`,
      [
        row.id,
        row.amount ?? 100,
        row.currency ?? 'EUR',
        row.status,
        row.gatewayRef ?? null,
        row.idempotencyKey ?? null,
      ],
    );
  }
}

interface LedgerLine {
  id: string;
  status: 'authorized' | 'declined';
  amount?: number;
  currency?: string;
  reference?: string;
}

const line = (l: LedgerLine) =>
  JSON.stringify({
    id: l.id,
    amount: l.amount ?? 100,
    currency: l.currency ?? 'EUR',
    status: l.status,
    ...(l.status === 'authorized'
      ? { reference: l.reference ?? `ch_${l.id}` }
      : { reason: 'insufficient_funds' }),
    created_at: '2024-01-01T00:00:00.000Z',
  });

interface Gateway {
  url: string;
  ledgerFile: string;
  /** Charges through POST /v1/charges; resolves to the reference. */
  charge(id: string, amount?: number, currency?: string): Promise<string>;
  close(): Promise<void>;
}

/** A simulator on port 0 whose ledger file starts with `lines`. */
async function startGateway(lines: LedgerLine[] = []): Promise<Gateway> {
  const ledgerFile = join(dir, `ledger-${++files}.ndjson`);
  writeFileSync(ledgerFile, lines.map((l) => `${line(l)}\n`).join(''));
  const server = createGatewayServer({
    latency: parseLatency('none'),
    failureRate: 0,
    declineRate: 0,
    ledgerFile,
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    ledgerFile,
    charge: async (id, amount = 100, currency = 'EUR') => {
      const res = await request(`${url}/v1/charges`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ id, amount, currency }),
      });
      assert.equal(res.statusCode, 200);
      return ((await res.body.json()) as { reference: string }).reference;
    },
    close: () =>
      new Promise<void>((done) => {
        server.closeAllConnections();
        server.close(() => done());
      }),
  };
}

const ids = (issues: { id: string }[]) => issues.map((i) => i.id).sort();
const sorted = (...values: string[]) => [...values].sort();

function assertOnly(
  report: InvariantReport,
  category: 'lost' | 'doubleCharged' | 'mismatch' | 'pending' | 'orphanCharges',
  expected: string[],
) {
  for (const key of ['lost', 'doubleCharged', 'mismatch', 'pending', 'orphanCharges'] as const) {
    assert.deepEqual(ids(report[key]), key === category ? sorted(...expected) : [], key);
    assert.equal(report.totals[key], key === category ? expected.length : 0, `totals.${key}`);
  }
}

async function embedded(): Promise<Database> {
  const db = await startEmbedded({ dataDir: 'memory://' });
  await migrate(db, migrations);
  return db;
}

describe('money invariant check', () => {
  let db: Database;
  before(async () => {
    db = await embedded();
  });
  after(() => db.close());
  beforeEach(() => db.query('TRUNCATE payments'));

  test('agreeing records report zeros and ok', async () => {
    const [a, b, c, d] = [randomUUID(), randomUUID(), randomUUID(), randomUUID()];
    const gateway = await startGateway([
      { id: b, status: 'declined' },
      { id: d, status: 'declined' },
    ]);
    try {
      const ref = await gateway.charge(a, 250, 'USD');
      await insert(
        db,
        { id: a, status: 'authorized', amount: 250, currency: 'USD', gatewayRef: ref },
        { id: b, status: 'declined' },
        // Failed before the gateway charged anything, and failed where the gateway declined.
        { id: c, status: 'failed' },
        { id: d, status: 'failed' },
      );
      const report = await checkInvariant({ db, gatewayUrl: gateway.url, acknowledged: [a, b, c] });
      assert.equal(report.ok, true);
      assert.equal(report.ledgerComplete, true);
      assert.deepEqual(report.totals, {
        payments: 4,
        charges: 3,
        acknowledged: 3,
        lost: 0,
        doubleCharged: 0,
        mismatch: 0,
        pending: 0,
        orphanCharges: 0,
        authorized: { USD: { payments: '250', gateway: '250' } },
      });
      assert.match(formatReport(report), /^money invariant holds$/m);
    } finally {
      await gateway.close();
    }
  });

  test('an acknowledged payment with no row is lost', async () => {
    const [a, missing] = [randomUUID(), randomUUID()];
    const gateway = await startGateway();
    try {
      await insert(db, { id: a, status: 'authorized', gatewayRef: await gateway.charge(a) });
      const report = await checkInvariant({
        db,
        gatewayUrl: gateway.url,
        acknowledged: [a, missing.toUpperCase()],
      });
      assert.equal(report.ok, false);
      assertOnly(report, 'lost', [missing]);
    } finally {
      await gateway.close();
    }
  });

  test('a charge created twice, or for another amount or currency, is double-charged', async () => {
    const [twice, amount, currency, fine] = [
      randomUUID(),
      randomUUID(),
      randomUUID(),
      randomUUID(),
    ];
    const gateway = await startGateway([
      { id: twice, status: 'authorized' },
      { id: twice, status: 'authorized' },
    ]);
    try {
      await insert(
        db,
        { id: twice, status: 'authorized', gatewayRef: `ch_${twice}` },
        {
          id: amount,
          status: 'authorized',
          amount: 100,
          gatewayRef: await gateway.charge(amount, 150),
        },
        {
          id: currency,
          status: 'authorized',
          currency: 'EUR',
          gatewayRef: await gateway.charge(currency, 100, 'GBP'),
        },
        { id: fine, status: 'authorized', gatewayRef: await gateway.charge(fine) },
      );
      const report = await checkInvariant({ db, gatewayUrl: gateway.url });
      assert.equal(report.ok, false);
      assertOnly(report, 'doubleCharged', [twice, amount, currency]);
      const byId = new Map(report.doubleCharged.map((i) => [i.id, i.detail]));
      assert.match(byId.get(twice)!, /created 2 times/);
      assert.match(byId.get(amount)!, /gateway charged 150 EUR, the payment is 100 EUR/);
      assert.deepEqual(report.totals.authorized.EUR, { payments: '400', gateway: '450' });
    } finally {
      await gateway.close();
    }
  });

  test('two payments charged under one idempotency key are double-charged', async () => {
    // The schema forbids this (UNIQUE idempotency_key); a fresh database without the
    // constraint shows that the check finds it if it ever happens.
    const loose = await embedded();
    const gateway = await startGateway();
    try {
      await loose.query('ALTER TABLE payments DROP CONSTRAINT payments_idempotency_key_key');
      const [k1, k2, k3, other] = [randomUUID(), randomUUID(), randomUUID(), randomUUID()];
      await insert(
        loose,
        {
          id: k1,
          status: 'authorized',
          idempotencyKey: 'key-1',
          gatewayRef: await gateway.charge(k1),
        },
        // Charged at the gateway though the row says failed: counts as charged (and mismatches).
        { id: k2, status: 'failed', idempotencyKey: 'key-1', gatewayRef: null },
        // Never charged: the key's retry that was not sent on.
        { id: k3, status: 'failed', idempotencyKey: 'key-1' },
        {
          id: other,
          status: 'authorized',
          idempotencyKey: 'key-2',
          gatewayRef: await gateway.charge(other),
        },
      );
      await gateway.charge(k2);
      const report = await checkInvariant({ db: loose, gatewayUrl: gateway.url });
      assert.deepEqual(ids(report.doubleCharged), sorted(k1, k2));
      assert.match(
        report.doubleCharged[0]!.detail,
        /idempotency key "key-1" charged by 2 payments/,
      );
      assert.deepEqual(ids(report.mismatch), [k2]);
    } finally {
      await gateway.close();
      await loose.close();
    }
  });

  test('final states that disagree with the gateway are mismatches', async () => {
    const [
      failedAuth,
      declinedAuth,
      authNone,
      authDeclined,
      authRef,
      declinedNone,
      failedDeclined,
    ] = [
      randomUUID(),
      randomUUID(),
      randomUUID(),
      randomUUID(),
      randomUUID(),
      randomUUID(),
      randomUUID(),
    ];
    const gateway = await startGateway([
      { id: authDeclined, status: 'declined' },
      { id: failedDeclined, status: 'declined' },
    ]);
    try {
      await gateway.charge(failedAuth);
      await gateway.charge(declinedAuth);
      await gateway.charge(authRef);
      await insert(
        db,
        { id: failedAuth, status: 'failed' },
        { id: declinedAuth, status: 'declined' },
        { id: authNone, status: 'authorized', gatewayRef: 'ch_nowhere' },
        { id: authDeclined, status: 'authorized', gatewayRef: 'ch_x' },
        { id: authRef, status: 'authorized', gatewayRef: 'ch_other' },
        { id: declinedNone, status: 'declined' },
        { id: failedDeclined, status: 'failed' },
      );
      const report = await checkInvariant({ db, gatewayUrl: gateway.url });
      assert.equal(report.ok, false);
      assertOnly(report, 'mismatch', [
        failedAuth,
        declinedAuth,
        authNone,
        authDeclined,
        authRef,
        declinedNone,
      ]);
      const byId = new Map(report.mismatch.map((i) => [i.id, i.detail]));
      assert.equal(byId.get(failedAuth), 'failed here, gateway: authorized');
      assert.equal(byId.get(authNone), 'authorized here, gateway: no charge at the gateway');
      assert.match(byId.get(authRef)!, /reference ch_other, gateway reference ch_/);
    } finally {
      await gateway.close();
    }
  });

  test('pending payments are reported as pending and do not fail the check', async () => {
    const [charged, uncharged] = [randomUUID(), randomUUID()];
    const gateway = await startGateway();
    try {
      await gateway.charge(charged);
      await insert(db, { id: charged, status: 'pending' }, { id: uncharged, status: 'pending' });
      const report = await checkInvariant({ db, gatewayUrl: gateway.url });
      assert.equal(report.ok, true);
      assertOnly(report, 'pending', [charged, uncharged]);
    } finally {
      await gateway.close();
    }
  });

  test('gateway charges with no payment row are orphans, counted apart', async () => {
    const [authorized, declined] = [randomUUID(), randomUUID()];
    const gateway = await startGateway([{ id: declined, status: 'declined' }]);
    try {
      await gateway.charge(authorized);
      const report = await checkInvariant({ db, gatewayUrl: gateway.url });
      assert.equal(report.ok, true);
      assertOnly(report, 'orphanCharges', [authorized, declined]);
      assert.equal(report.totals.payments, 0);
      assert.equal(report.totals.charges, 2);
    } finally {
      await gateway.close();
    }
  });

  test('the ledger file gives the same report as the running gateway', async () => {
    const [a, b] = [randomUUID(), randomUUID()];
    const gateway = await startGateway();
    try {
      await insert(
        db,
        { id: a, status: 'authorized', gatewayRef: await gateway.charge(a) },
        { id: b, status: 'failed' },
      );
      await gateway.charge(b);
      const live = await checkInvariant({ db, gatewayUrl: gateway.url, pageSize: 1 });
      const offline = await checkInvariant({ db, ledgerFile: gateway.ledgerFile, pageSize: 1 });
      assert.deepEqual(offline, live);
      assertOnly(live, 'mismatch', [b]);
    } finally {
      await gateway.close();
    }
  });

  test('100,000 payments are read in pages and checked against 100,000 charges', async () => {
    const n = 100_000;
    const uuidOf = (i: number) => {
      const h = createHash('md5').update(String(i)).digest('hex');
      return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
    };
    await db.query(
      `INSERT INTO payments (id, user_id, amount, currency, status, gateway_ref)
       SELECT md5(i::text)::uuid, 1, 100, 'EUR', 'authorized', 'ch_' || i
       FROM generate_series(0, $1::int - 1) AS i`,
      [n],
    );
    const lines: LedgerLine[] = [];
    for (let i = 0; i < n; i++)
      lines.push({ id: uuidOf(i), status: 'authorized', reference: `ch_${i}` });
    const gateway = await startGateway(lines);
    try {
      const report = await checkInvariant({ db, gatewayUrl: gateway.url });
      assert.equal(report.totals.payments, n);
      assert.equal(report.totals.charges, n);
      assert.equal(report.ok, true);
      assertOnly(report, 'pending', []);
      assert.deepEqual(report.totals.authorized.EUR, { payments: '10000000', gateway: '10000000' });
    } finally {
      await gateway.close();
    }
  });

  test('the text report names the verdict and each issue', async () => {
    const [lostId, orphan] = [randomUUID(), randomUUID()];
    const gateway = await startGateway();
    try {
      await gateway.charge(orphan);
      const report = await checkInvariant({ db, gatewayUrl: gateway.url, acknowledged: [lostId] });
      const text = formatReport(report);
      assert.match(text, /^money invariant VIOLATED$/m);
      assert.match(
        text,
        new RegExp(`^lost \\(acknowledged, no payment row\\): 1\\n  ${lostId}  `, 'm'),
      );
      assert.match(
        text,
        new RegExp(`^  ${orphan}  authorized at the gateway, no payment row$`, 'm'),
      );
    } finally {
      await gateway.close();
    }
  });

  test('exactly one of gatewayUrl and ledgerFile is required', async () => {
    await assert.rejects(checkInvariant({ db }), /gatewayUrl, ledgerFile/);
  });
});

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function reconcile(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const clean = { ...process.env };
  for (const name of ['DATABASE_URL', 'DATA_DIR', 'GATEWAY_URL', 'GATEWAY_LEDGER_FILE'])
    delete clean[name];
  const child = spawn(
    process.execPath,
    ['--conditions=source', '--import', 'tsx', 'scripts/reconcile.ts', ...args],
    { cwd: root, env: { ...clean, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((done) => child.once('close', (code) => done({ code, stdout, stderr })));
}

const pg = await postgresForTests();

describe('npm run reconcile', () => {
  test('--help prints the usage and exits 0', async () => {
    const run = await reconcile(['--help']);
    assert.equal(run.code, 0);
    assert.match(run.stdout, /^usage: npm run reconcile/);
  });

  test('a usage error is one line and exit code 2', async () => {
    for (const args of [[], ['--no-such-flag'], ['--database-url', 'mysql://x']]) {
      const run = await reconcile(args);
      assert.equal(run.code, 2, args.join(' '));
      assert.equal(run.stderr.trim().split('\n').length, 1, run.stderr);
      assert.match(run.stderr, /^reconcile: /);
    }
  });

  describe('on a PostgreSQL server', { skip: pg.skip }, () => {
    test('exits 0 when the invariant holds, 1 with the report when it does not, 2 when the gateway is unreachable', async () => {
      const created = await createTestDatabase(pg.url);
      const db = await connectPostgres(created.url);
      const gateway = await startGateway();
      try {
        await migrate(db, migrations);
        const [a, b] = [randomUUID(), randomUUID()];
        await insert(db, { id: a, status: 'authorized', gatewayRef: await gateway.charge(a) });
        const ackFile = join(dir, 'acknowledged.txt');
        writeFileSync(ackFile, `${a}\n`);

        const holds = await reconcile(['--gateway-url', gateway.url, '--acknowledged', ackFile], {
          DATABASE_URL: created.url,
        });
        assert.equal(holds.code, 0, holds.stderr);
        assert.match(holds.stdout, /^money invariant holds$/m);

        await insert(db, { id: b, status: 'failed' });
        await gateway.charge(b);
        const violated = await reconcile(['--database-url', created.url, '--json'], {
          GATEWAY_URL: gateway.url,
        });
        assert.equal(violated.code, 1, violated.stderr);
        const report = JSON.parse(violated.stdout) as InvariantReport;
        assert.deepEqual(ids(report.mismatch), [b]);

        const unreachable = await reconcile([
          '--database-url',
          created.url,
          '--gateway-url',
          'http://127.0.0.1:1',
        ]);
        assert.equal(unreachable.code, 2);
        assert.match(unreachable.stderr, /could not run/);
      } finally {
        await gateway.close();
        await db.close();
        await created.drop();
      }
    });
  });
});
