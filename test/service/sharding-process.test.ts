/**
 * `npm start` with DATABASE_SHARD_URLS, as a process: every shard migrated at start, readiness
 * per shard, a payment on its user's shard, SIGTERM closes; a shard that cannot be reached and
 * a refused combination of settings each end the start with one line naming the variable.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ShardRouter, connectPostgres } from 'hotpath/db';
import { createTestDatabase, postgresForTests } from '../helpers/services.js';

const pg = await postgresForTests();
const root = resolve(import.meta.dirname, '..', '..');
// The simulator's ledger file goes under DATA_DIR: never the repository's ./data.
const dataDir = mkdtempSync(join(tmpdir(), 'hotpath-sharding-'));

function start(env: Record<string, string>): ChildProcess {
  const clean = { ...process.env };
  for (const name of ['DATABASE_URL', 'DATABASE_REPLICA_URL', 'DATABASE_SHARD_URLS', 'REDIS_URL'])
    delete clean[name];
  return spawn(
    process.execPath,
    ['--conditions=source', '--import', 'tsx', resolve(root, 'service', 'main.ts')],
    {
      cwd: root,
      env: {
        ...clean,
        LOG_LEVEL: 'warn',
        PORT: '0',
        GATEWAY_PORT: '0',
        DATA_DIR: dataDir,
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
}

function output(child: ChildProcess): { stdout: () => string; stderr: () => string } {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  return { stdout: () => stdout, stderr: () => stderr };
}

const exited = (child: ChildProcess) =>
  new Promise<number | null>((done) => {
    if (child.exitCode !== null) done(child.exitCode);
    else child.once('exit', done);
  });

async function closedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((done) => probe.listen(0, '127.0.0.1', done));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((done) => probe.close(() => done()));
  return port;
}

describe('the service process on two shards', { skip: pg.skip }, () => {
  const dbs: { url: string; drop: () => Promise<void> }[] = [];
  before(async () => {
    dbs.push(await createTestDatabase(pg.url), await createTestDatabase(pg.url));
  });
  after(async () => {
    for (const db of dbs) await db.drop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('migrates both shards, reports each in readiness, stores a payment on its user shard, and drains on SIGTERM', async () => {
    const child = start({ DATABASE_SHARD_URLS: dbs.map((d) => d.url).join(',') });
    const out = output(child);
    try {
      const base = await new Promise<string>((resolveBase, reject) => {
        const onData = () => {
          // The last line of the start-up banner names the databases.
          const match = /listening on (http:\/\/\S+)/.exec(out.stdout());
          if (match && /database: /.test(out.stdout())) resolveBase(match[1]!);
        };
        child.stdout?.on('data', onData);
        child.once('exit', (code) => reject(new Error(`exited ${code}: ${out.stderr()}`)));
      });
      assert.match(out.stdout(), /database shard 0 schema at version \d+ \(applied 1, 2, 3\)/);
      assert.match(out.stdout(), /database shard 1 schema at version \d+ \(applied 1, 2, 3\)/);
      assert.match(out.stdout(), /database: 2 PostgreSQL shards/);

      const ready = await fetch(`${base}/health/ready`);
      const body = (await ready.json()) as { checks: Record<string, string> };
      assert.equal(body.checks['database-shard-0'], 'ok');
      assert.equal(body.checks['database-shard-1'], 'ok');

      const router = new ShardRouter({ shards: [0, 1] });
      for (const user of [1, 2, 3, 4, 5, 6]) {
        const res = await fetch(`${base}/api/payments`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'idempotency-key': `process-${user}` },
          body: JSON.stringify({ user_id: user, amount: 250, currency: 'EUR' }),
        });
        assert.ok(res.status === 201 || res.status === 202, `user ${user}: ${res.status}`);
        const { id } = (await res.json()) as { id: string };
        const home = router.indexFor(user);
        for (const [index, db] of dbs.entries()) {
          const conn = await connectPostgres(db.url, { max: 1 });
          try {
            const { rows } = await conn.query('SELECT 1 FROM payments WHERE id = $1', [id]);
            assert.equal(rows.length, index === home ? 1 : 0, `user ${user} on shard ${index}`);
          } finally {
            await conn.close();
          }
        }
      }
      child.kill('SIGTERM');
      assert.equal(await exited(child), 0, out.stderr());
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });

  test('a shard nobody answers on ends the start with one line naming it, exit code 1', async () => {
    const down = new URL(dbs[1]!.url);
    down.port = String(await closedPort());
    const child = start({ DATABASE_SHARD_URLS: `${dbs[0]!.url},${down.toString()}` });
    const out = output(child);
    assert.equal(await exited(child), 1);
    const lines = out.stderr().trim().split('\n');
    assert.equal(lines.length, 1, out.stderr());
    assert.match(lines[0]!, /^hotpath: DATABASE_SHARD_URLS: shard 1: /);
  });

  test('DATABASE_SHARD_URLS with DATABASE_URL is refused in one line, exit code 1', async () => {
    const child = start({
      DATABASE_SHARD_URLS: dbs.map((d) => d.url).join(','),
      DATABASE_URL: dbs[0]!.url,
    });
    const out = output(child);
    assert.equal(await exited(child), 1);
    assert.match(
      out.stderr(),
      /^hotpath: invalid configuration: DATABASE_SHARD_URLS: .*not both\n$/,
    );
  });
});
