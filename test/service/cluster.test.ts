/**
 * WORKERS=N: the payments service as a node:cluster primary and its workers, started for real
 * on a fresh database of the test PostgreSQL server (embedded PGlite cannot be shared between
 * processes). Skipped with a reason without PostgreSQL, failing under CI.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../../service/config.js';
import { createTestDatabase, postgresForTests } from '../helpers/services.js';

const root = resolve(import.meta.dirname, '..', '..');
const main = resolve(root, 'service', 'main.ts');

function run(env: Record<string, string>): ChildProcess {
  return spawn(process.execPath, ['--conditions=source', '--import', 'tsx', main], {
    cwd: root,
    env: { ...process.env, LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** Everything a process printed, and a wait for a pattern anywhere in it (bounded). */
function collect(child: ChildProcess) {
  let stdout = '';
  let stderr = '';
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  return {
    exited,
    get stdout() {
      return stdout;
    },
    get stderr() {
      return stderr;
    },
    /** The first match of `pattern` in the output after `from` characters. */
    async wait(pattern: RegExp, what: string, from = 0, ms = 60_000): Promise<RegExpExecArray> {
      const deadline = Date.now() + ms;
      for (;;) {
        const match = pattern.exec(stdout.slice(from));
        if (match !== null) return match;
        if (child.exitCode !== null || Date.now() > deadline) {
          throw new Error(`${what}: not seen (exit ${child.exitCode})\n${stdout}\n${stderr}`);
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    },
  };
}

/** One HTTP request on its own connection, so the primary hands each to a worker in turn. */
function send(
  url: string,
  options: { method?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<{ status: number; body: string }> {
  return new Promise((resolveRes, reject) => {
    const req = httpRequest(
      url,
      {
        method: options.method ?? 'GET',
        agent: false,
        headers: {
          ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
          ...options.headers,
        },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolveRes({ status: res.statusCode ?? 0, body }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(options.body === undefined ? undefined : JSON.stringify(options.body));
  });
}

/** Sum of a metric's samples (every label set) in a Prometheus text. */
function total(text: string, name: string, labels = ''): number {
  let sum = 0;
  const re = new RegExp(`^${name}\\{([^}]*)\\} (\\S+)$`, 'gm');
  for (const m of text.matchAll(re)) if (m[1]!.includes(labels)) sum += Number(m[2]);
  return sum;
}

/** Polls `read` until `ok` holds (bounded: a failure after `ms`, never a timing assertion). */
async function until<T>(read: () => Promise<T>, ok: (v: T) => boolean, what: string, ms = 20_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await read();
    if (ok(value)) return value;
    if (Date.now() > deadline) throw new Error(`${what}: still ${JSON.stringify(value)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('WORKERS configuration', () => {
  test('WORKERS above 1 without DATABASE_URL is a config error naming WORKERS, exit code 1', async () => {
    const child = run({ WORKERS: '2', PORT: '0', DATA_DIR: 'memory://', DATABASE_URL: '' });
    const out = collect(child);
    assert.equal(await out.exited, 1);
    const lines = out.stderr.trim().split('\n');
    assert.equal(lines.length, 1, out.stderr);
    assert.match(lines[0]!, /WORKERS: 2 workers need DATABASE_URL/);
  });

  test('a worker that cannot start stops the whole service: exit code 1, the reason on stderr', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'hotpath-cluster-fail-'));
    try {
      const child = run({
        WORKERS: '2',
        PORT: '0',
        METRICS_PORT: '0',
        GATEWAY_PORT: '0',
        DATA_DIR: dataDir,
        DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none',
      });
      const out = collect(child);
      assert.equal(await out.exited, 1);
      assert.match(out.stderr, /hotpath: DATABASE_URL: /);
      assert.match(out.stderr, /hotpath: worker \d exited with code 1 while starting; stopping/);
      assert.doesNotMatch(out.stdout, /listening on/);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  test('WORKERS=auto is one worker per core, and the default is 1', () => {
    const url = 'postgres://u@127.0.0.1:5432/db';
    assert.equal(
      loadConfig({ WORKERS: 'auto', DATABASE_URL: url }).workers,
      availableParallelism(),
    );
    assert.equal(loadConfig({}).workers, 1);
    assert.throws(() => loadConfig({ WORKERS: '0' }), { variable: 'WORKERS' });
  });
});

const pg = await postgresForTests();

describe('the service with WORKERS=2', { skip: pg.skip }, () => {
  let child: ChildProcess;
  let out: ReturnType<typeof collect>;
  let url = '';
  let metricsUrl = '';
  let drop: () => Promise<void> = async () => {};
  const dataDir = mkdtempSync(join(tmpdir(), 'hotpath-cluster-'));
  const pids = new Map<string, number>();

  before(async () => {
    const db = await createTestDatabase(pg.url);
    drop = db.drop;
    child = run({
      WORKERS: '2',
      PORT: '0',
      METRICS_PORT: '0',
      GATEWAY_PORT: '0',
      DATABASE_URL: db.url,
      DATA_DIR: dataDir,
      INSTANCE_ID: 'test-host',
      // Charges take 2.5 s, so a drain meets them in flight.
      GATEWAY_LATENCY: 'fixed:2500',
      GATEWAY_FAILURE_RATE: '0',
      GATEWAY_DECLINE_RATE: '0',
      RATE_LIMIT_PER_SECOND: '0',
      SHEDDING: 'off',
    });
    out = collect(child);
    const [, listening] = await out.wait(
      /listening on (http:\/\/[\d.]+:\d+) \(2 workers/,
      'the cluster listening',
    );
    url = listening!;
    metricsUrl = (await out.wait(/metrics of all workers on (\S+)/, 'the metrics line'))[1]!;
    for (const m of out.stdout.matchAll(/worker (\d) \(pid (\d+)\) listening/g)) {
      pids.set(m[1]!, Number(m[2]));
    }
  });

  after(async () => {
    if (child.exitCode === null) {
      child.kill('SIGKILL');
      await out.exited;
    }
    await drop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('the primary starts the gateway simulator once and two workers', () => {
    assert.equal(out.stdout.match(/gateway simulator \(pid \d+\)/g)?.length, 1, out.stdout);
    assert.equal(pids.size, 2, out.stdout);
  });

  test("requests reach both workers and the primary's /metrics counts them all, labelled with INSTANCE_ID", async () => {
    const before = total(
      (await send(metricsUrl)).body,
      'http_requests_total',
      'route="/health/live"',
    );
    const workers = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const res = await send(`${url}/health/live`);
      assert.equal(res.status, 200);
    }
    // Each worker's own /metrics carries its slot in its instance label.
    for (let i = 0; i < 6; i++) {
      const text = (await send(`${url}/metrics`)).body;
      const m = /instance="test-host\/worker-(\d)"/.exec(text);
      if (m !== null) workers.add(m[1]!);
    }
    assert.deepEqual([...workers].sort(), ['1', '2']);
    const text = await until(
      async () => (await send(metricsUrl)).body,
      (t) => total(t, 'http_requests_total', 'route="/health/live"') - before === 20,
      'the merged count of /health/live requests',
    );
    assert.match(text, /^hotpath_cluster_workers\{instance="test-host",state="fresh"\} 2$/m);
    assert.doesNotMatch(text, /worker-\d/);
  });

  test("a worker's dashboard charts requests per second and p99 of the whole service and of each worker", async () => {
    // Traffic on both workers, while a dashboard stream on one of them waits for a frame in
    // which the whole and both workers have figures.
    const traffic = (async () => {
      for (let i = 0; i < 60; i++) await send(`${url}/health/live`);
    })();
    const frame = await new Promise<{ rate: number[]; p99: number[]; labels: string[] }>(
      (resolveFrame, reject) => {
        let labels: string[] = [];
        const req = httpRequest(`${url}/dashboard/events`, { agent: false }, (res) => {
          let buffer = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            buffer += chunk;
            let end: number;
            while ((end = buffer.indexOf('\n\n')) !== -1) {
              const message = buffer.slice(0, end);
              buffer = buffer.slice(end + 2);
              const event = /^event: (\w+)$/m.exec(message)?.[1] ?? 'message';
              const data = /^data: (.*)$/m.exec(message)?.[1];
              if (data === undefined) continue;
              if (event === 'panels') {
                const panel = (
                  JSON.parse(data) as Array<{ id: string; series: Array<{ label: string }> }>
                ).find((p) => p.id === 'cluster-rate');
                labels = panel?.series.map((s) => s.label) ?? [];
              } else if (event === 'message') {
                const values = (JSON.parse(data) as { values: Record<string, number[]> }).values;
                const rate = values['cluster-rate'];
                const p99 = values['cluster-p99'];
                if (rate !== undefined && p99 !== undefined && rate.every((v) => v > 0)) {
                  req.destroy();
                  resolveFrame({ rate, p99, labels });
                }
              }
            }
          });
        });
        req.on('error', (error) => {
          if (!req.destroyed) reject(error);
        });
        req.setTimeout(30_000, () => req.destroy(new Error('no frame with every worker busy')));
        req.end();
      },
    );
    await traffic;
    assert.deepEqual(frame.labels, ['all', 'worker 1', 'worker 2']);
    // The whole's rate is the sum of the workers' (rounded as the dashboard rounds).
    assert.ok(Math.abs(frame.rate[0]! - frame.rate[1]! - frame.rate[2]!) < 0.1, String(frame.rate));
    assert.ok(
      frame.p99.every((v) => v > 0),
      String(frame.p99),
    );
    assert.ok(frame.p99[0]! <= Math.max(frame.p99[1]!, frame.p99[2]!) * 1.01, String(frame.p99));
  });

  test("a scraper that stops reading, then goes away, does not hold up the primary's next scrape", async () => {
    const { port } = new URL(metricsUrl);
    const socket = connect(Number(port), '127.0.0.1');
    await new Promise<void>((r) => socket.once('connect', () => r()));
    socket.write('GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    // The first bytes arrive; then it stops reading and, later, disconnects.
    await new Promise<void>((r) => socket.once('data', () => r()));
    socket.pause();
    const res = await send(metricsUrl);
    assert.equal(res.status, 200);
    socket.destroy();
    assert.equal((await send(metricsUrl)).status, 200);
  });

  test('SIGSTOP on a worker: the primary still answers /metrics, then reports that worker stale', async () => {
    const pid = pids.get('2')!;
    process.kill(pid, 'SIGSTOP');
    try {
      const res = await send(metricsUrl);
      assert.equal(res.status, 200);
      assert.match(res.body, /^http_requests_total\{/m);
      await until(
        async () => (await send(metricsUrl)).body,
        (t) => /hotpath_cluster_workers\{instance="test-host",state="stale"\} 1/.test(t),
        'the stopped worker reported stale',
      );
    } finally {
      process.kill(pid, 'SIGCONT');
    }
  });

  test('a worker killed with SIGKILL is replaced; merged counters do not go down', async () => {
    const before = total((await send(metricsUrl)).body, 'http_requests_total');
    const from = out.stdout.length;
    process.kill(pids.get('1')!, 'SIGKILL');
    await out.wait(
      /worker 1 \(pid \d+\) exited with signal SIGKILL; starting another/,
      'exit',
      from,
    );
    const [, pid] = await out.wait(/worker 1 \(pid (\d+)\) listening/, 'replacement', from);
    assert.notEqual(Number(pid), pids.get('1'));
    pids.set('1', Number(pid));
    for (let i = 0; i < 4; i++) assert.equal((await send(`${url}/health/live`)).status, 200);
    // The killed worker's last snapshot stays in the totals (what it counted after it is lost).
    const text = await until(
      async () => (await send(metricsUrl)).body,
      (t) => /state="fresh"\} 2$/m.test(t) && total(t, 'http_requests_total') >= before + 4,
      'two fresh workers again, with the four new requests',
    );
    assert.match(text, /^hotpath_cluster_worker_restarts_total\{instance="test-host"\} 1$/m);
  });

  test('SIGTERM with payments in flight on both workers answers every one and exits 0', async () => {
    const payments = Array.from({ length: 12 }, (_, i) =>
      send(`${url}/api/payments`, {
        method: 'POST',
        headers: { 'idempotency-key': `cluster-drain-${i}` },
        body: { user_id: 1 + i, amount: 100 + i, currency: 'EUR' },
      }),
    );
    // Every charge is at the gateway (2.5 s each) once the merged in-flight gauge shows 12.
    await until(
      async () => (await send(metricsUrl)).body,
      (t) => total(t, 'http_requests_in_flight') >= 12,
      'twelve payments in flight',
      10_000,
    );
    const from = out.stdout.length;
    child.kill('SIGTERM');
    const answers = await Promise.all(payments);
    for (const a of answers) {
      assert.equal(a.status, 201, a.body);
      assert.equal((JSON.parse(a.body) as { status: string }).status, 'authorized');
    }
    assert.equal(await out.exited, 0);
    assert.match(out.stdout.slice(from), /SIGTERM: draining 2 workers[\s\S]*stopped/);
  });
});
