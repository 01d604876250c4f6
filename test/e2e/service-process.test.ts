import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { describe, test } from 'node:test';
import { request } from 'undici';

const root = resolve(import.meta.dirname, '..', '..');
const main = resolve(root, 'service', 'main.ts');

function run(env: Record<string, string>, args: string[] = []): ChildProcess {
  return spawn(process.execPath, ['--conditions=source', '--import', 'tsx', main, ...args], {
    cwd: root,
    env: { ...process.env, LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

async function finish(
  child: ChildProcess,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((r) => child.once('exit', r));
  return { code, stdout, stderr };
}

function waitForLine(child: ChildProcess, pattern: RegExp): Promise<RegExpMatchArray> {
  return new Promise((resolveLine, reject) => {
    let seen = '';
    const onData = (d: Buffer) => {
      seen += d.toString();
      const match = pattern.exec(seen);
      if (match) {
        child.stdout?.off('data', onData);
        resolveLine(match);
      }
    };
    child.stdout?.on('data', onData);
    child.once('exit', (code) =>
      reject(new Error(`exited with ${code} before printing ${pattern}: ${seen}`)),
    );
  });
}

/** Rejects when `promise` has not settled within `ms`, naming what was awaited. */
function withinMs<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

describe('service process', () => {
  for (const [variable, value] of [
    ['PORT', 'abc'],
    ['GATEWAY_FAILURE_RATE', '2'],
    ['DATABASE_URL', 'mysql://x'],
    ['LOG_LEVEL', 'loud'],
    ['GATEWAY_LATENCY', 'weird'],
  ] as const) {
    test(`a bad ${variable} is one line naming it and exit code 1`, async () => {
      const { code, stderr } = await finish(run({ [variable]: value }));
      assert.equal(code, 1);
      const lines = stderr.trim().split('\n');
      assert.equal(lines.length, 1, stderr);
      assert.match(lines[0]!, new RegExp(`${variable}`));
      assert.doesNotMatch(stderr, /\n\s+at /);
    });
  }

  test('an unknown flag is one line and exit code 1', async () => {
    const { code, stderr } = await finish(run({}, ['--no-such-flag', 'x']));
    assert.equal(code, 1);
    assert.match(stderr.trim(), /--no-such-flag/);
  });

  test('an unreachable DATABASE_URL is one line naming it and exit code 1', async () => {
    const { code, stderr } = await finish(
      run({ DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none', PORT: '0', GATEWAY_PORT: '0' }),
    );
    assert.equal(code, 1);
    const lines = stderr.trim().split('\n');
    assert.equal(lines.length, 1, stderr);
    assert.match(lines[0]!, /DATABASE_URL/);
    assert.doesNotMatch(stderr, /\n\s+at /);
  });

  test('--help lists every variable and exits 0', async () => {
    const { code, stdout } = await finish(run({}, ['--help']));
    assert.equal(code, 0);
    for (const name of [
      'PORT',
      'DATABASE_URL',
      'DATA_DIR',
      'REDIS_URL',
      'GATEWAY_URL',
      'GATEWAY_LATENCY',
    ]) {
      assert.match(stdout, new RegExp(name));
    }
  });

  test('SIGTERM drains an in-flight payment, answers it, and exits 0', async () => {
    // A gateway the test controls: it holds the charge until the service has begun draining.
    let arrived!: () => void;
    const chargeArrived = new Promise<void>((r) => (arrived = r));
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    const gateway = createServer((req, res) => {
      if (req.url === '/health') return res.end('{}');
      req.resume();
      req.on('end', () => {
        arrived();
        void released.then(() => {
          res.setHeader('content-type', 'application/json');
          res.end(JSON.stringify({ status: 'authorized', reference: 'ch_test' }));
        });
      });
    });
    await new Promise<void>((r) => gateway.listen(0, '127.0.0.1', r));
    const gatewayUrl = `http://127.0.0.1:${(gateway.address() as AddressInfo).port}`;
    try {
      const child = run({ PORT: '0', DATA_DIR: 'memory://', GATEWAY_URL: gatewayUrl });
      const exited = finish(child);
      const [, url] = await waitForLine(child, /listening on (http:\/\/[\d.]+:\d+)/);
      const inFlight = request(`${url}/api/payments`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': 'drain-1' },
        body: JSON.stringify({ user_id: 1, amount: 100, currency: 'EUR' }),
      });
      await chargeArrived;
      const draining = waitForLine(child, /draining/);
      child.kill('SIGTERM');
      await draining;
      release();
      const res = await inFlight;
      assert.equal(res.statusCode, 201);
      const payment = (await res.body.json()) as { status: string };
      assert.equal(payment.status, 'authorized');
      const { code, stdout } = await exited;
      assert.equal(code, 0);
      assert.match(stdout, /stopped/);
      await assert.rejects(
        request(`${url}/health/live`),
        /ECONNREFUSED|other side closed|SocketError/,
      );
    } finally {
      gateway.closeAllConnections();
      gateway.close();
    }
  });

  test('a killed gateway simulator is logged, shown degraded by readiness and restarted; its charges survive', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'hotpath-gw-'));
    const child = run({ PORT: '0', GATEWAY_PORT: '0', DATA_DIR: dataDir });
    const exited = finish(child);
    try {
      // One wait for both lines: they often come in one chunk, which a second wait would miss.
      const [, url, pid, gatewayUrl] = await withinMs(
        waitForLine(
          child,
          /listening on (http:\/\/[\d.]+:\d+)[\s\S]*gateway simulator \(pid (\d+)\) at (http:\/\/[\d.]+:\d+)/,
        ),
        60_000,
        'the service and its gateway simulator listening',
      );
      const ready = async () => {
        const res = await request(`${url}/health/ready`);
        return {
          status: res.statusCode,
          body: (await res.body.json()) as { status: string; checks: Record<string, string> },
        };
      };
      assert.deepEqual((await ready()).body.checks.gateway, 'ok');
      const created = await request(`${url}/api/payments`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ user_id: 1, amount: 100, currency: 'EUR' }),
      });
      const payment = (await created.body.json()) as { id: string; status: string };
      assert.equal(created.statusCode, 201, JSON.stringify(payment));

      const restarted = withinMs(
        waitForLine(child, /gateway simulator restarted \(pid (\d+)\)/),
        30_000,
        'the gateway simulator restarted',
      );
      process.kill(Number(pid), 'SIGKILL');
      const [, newPid] = await restarted;
      assert.notEqual(newPid, pid);
      // Serving goes on (200), with the restart shown as degraded.
      const after = await ready();
      assert.equal(after.status, 200);
      assert.equal(after.body.status, 'degraded');
      assert.match(
        after.body.checks.gateway ?? '',
        /^degraded: simulator restarted \d+ s ago \(1 restarts\)$/,
      );
      // Same URL, and the restarted simulator still knows the charge made before the kill.
      const charge = await request(`${gatewayUrl}/v1/charges/${payment.id}`);
      assert.equal(charge.statusCode, 200);
      assert.equal(((await charge.body.json()) as { status: string }).status, payment.status);
    } finally {
      child.kill('SIGTERM');
      // Bounded: a service that does not drain in time is killed, and the test fails below.
      const force = setTimeout(() => child.kill('SIGKILL'), 20_000);
      const { stdout } = await exited;
      clearTimeout(force);
      assert.match(stdout, /gateway simulator \(pid \d+\) exited on SIGKILL; restarting in \d+ ms/);
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
