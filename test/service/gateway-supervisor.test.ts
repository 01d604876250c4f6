import assert from 'node:assert/strict';
import {
  appendFileSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, test } from 'node:test';
import { request } from 'undici';
import { spawnGateway, SupervisedGateway, type GatewayState } from '../../service/gateway/spawn.js';

const config = {
  host: '127.0.0.1',
  gatewayPort: 0,
  gatewayLatency: 'none',
  gatewayFailureRate: 0,
  gatewayDeclineRate: 0,
};

const dir = mkdtempSync(join(tmpdir(), 'hp-gateway-sup-'));
after(() => rmSync(dir, { recursive: true, force: true }));

async function charge(url: string, id: string): Promise<{ status: number; reference: unknown }> {
  const res = await request(`${url}/v1/charges`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ id, amount: 100, currency: 'EUR' }),
    reset: true,
  });
  const body = (await res.body.json()) as { reference?: unknown };
  return { status: res.statusCode, reference: body.reference };
}

/** Polls until `check` holds; fails after `attempts` tries (a bound, not a timing). */
async function eventually(check: () => boolean, what: string, attempts = 3000): Promise<void> {
  for (let i = 0; i < attempts; i++) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.fail(`never happened: ${what}`);
}

function record(gateway: SupervisedGateway): GatewayState[] {
  const states: GatewayState[] = [];
  gateway.on('state', ({ state }) => states.push(state));
  return states;
}

describe('supervised gateway simulator', () => {
  test('a SIGKILLed simulator is logged, reported down, restarted on the same URL and keeps its charges', async () => {
    const lines: string[] = [];
    const gateway = await spawnGateway(config, {
      log: (line) => lines.push(line),
      ledgerFile: join(dir, 'ledger.ndjson'),
    });
    try {
      const states = record(gateway);
      assert.equal(gateway.state, 'up');
      assert.equal(gateway.restarts, 0);
      const url = gateway.url;
      const before = await charge(url, 'pay-1');
      assert.equal(before.status, 200);

      const pid = gateway.pid;
      assert.ok(pid !== undefined);
      process.kill(pid, 'SIGKILL');
      await eventually(() => states.includes('down'), 'state down');
      await eventually(() => gateway.state === 'up', 'state up again');

      assert.equal(gateway.restarts, 1);
      assert.notEqual(gateway.pid, pid);
      assert.deepEqual(states, ['down', 'restarting', 'up']);
      assert.equal(gateway.url, url);
      assert.match(lines[0] ?? '', new RegExp(`pid ${pid}\\) exited on SIGKILL; restarting in`));
      assert.match(lines.at(-1) ?? '', /restarted/);

      const after = await charge(url, 'pay-1');
      assert.equal(after.status, 200);
      assert.equal(after.reference, before.reference);
      const found = await request(`${url}/v1/charges/pay-1`, { reset: true });
      assert.equal(found.statusCode, 200);
      await found.body.dump();
    } finally {
      await gateway.stop();
    }
  });

  test('a restart that fails is retried with backoff until the simulator starts again', async () => {
    const lines: string[] = [];
    const ledgerFile = join(dir, 'broken-ledger.ndjson');
    const gateway = await spawnGateway(config, {
      log: (line) => lines.push(line),
      ledgerFile,
      minBackoffMs: 10,
      maxBackoffMs: 40,
    });
    try {
      const { reference } = await charge(gateway.url, 'pay-3');
      const good = readFileSync(ledgerFile, 'utf8');
      // A ledger line the child refuses to load makes every restart exit with code 1.
      appendFileSync(ledgerFile, 'not a charge\n');
      process.kill(gateway.pid!, 'SIGKILL');
      await eventually(() => gateway.restarts >= 2, 'two failed restarts');
      assert.notEqual(gateway.state, 'up');
      assert.ok(lines.some((line) => /restart failed: .*exited \(code 1\)/.test(line)));

      writeFileSync(ledgerFile, good);
      await eventually(() => gateway.state === 'up', 'state up after the ledger is repaired');
      assert.equal((await charge(gateway.url, 'pay-3')).reference, reference);
    } finally {
      await gateway.stop();
    }
  });

  test('stop() ends supervision: the child is not restarted and the state is down', async () => {
    const lines: string[] = [];
    const gateway = await spawnGateway(config, { log: (line) => lines.push(line) });
    const pid = gateway.pid;
    assert.ok(pid !== undefined);
    await gateway.stop();
    assert.equal(gateway.state, 'down');
    assert.equal(gateway.restarts, 0);
    assert.deepEqual(lines, []);
    assert.throws(() => process.kill(pid, 0), { code: 'ESRCH' });
  });

  test('without a ledger file the supervisor keeps one in a temporary directory and removes it on stop', async () => {
    const gateway = await spawnGateway(config, { log: () => {} });
    const ledgerDir = dirname(gateway.ledgerFile);
    try {
      assert.equal((await charge(gateway.url, 'pay-2')).status, 200);
      assert.ok(existsSync(gateway.ledgerFile));
    } finally {
      await gateway.stop();
    }
    assert.equal(existsSync(ledgerDir), false);
  });

  test('a simulator that cannot start rejects the first start', async () => {
    const ledgerFile = join(dir, 'unreadable-ledger.ndjson');
    writeFileSync(ledgerFile, 'not a charge\n');
    await assert.rejects(
      spawnGateway(config, { log: () => {}, ledgerFile }),
      /exited \(code 1\) before listening/,
    );
  });

  test('bad settings are refused before any child is forked, naming the setting', () => {
    assert.throws(
      () => new SupervisedGateway({ ...config, gatewayLatency: 'sometimes' }, { log: () => {} }),
      { name: 'GatewaySettingError', variable: 'GATEWAY_LATENCY' },
    );
    assert.throws(
      () =>
        new SupervisedGateway(config, {
          log: () => {},
          faults: { freeze: 1 as unknown as boolean },
        }),
      {
        name: 'GatewaySettingError',
        variable: 'faults',
        message: /freeze: expected true or false/,
      },
    );
  });

  test('the child runs on the settings it was sent, not on GATEWAY_* variables it inherits', async () => {
    const saved = { ...process.env };
    // Variables that, were the child to read them, would make every charge succeed at once.
    process.env.GATEWAY_DECLINE_RATE = '0';
    process.env.GATEWAY_LATENCY = 'none';
    process.env.GATEWAY_FAILURE_RATE = '0';
    let gateway: SupervisedGateway | undefined;
    try {
      gateway = await spawnGateway(
        { ...config, gatewayDeclineRate: 1, gatewayFailureRate: 0 },
        { log: () => {}, faults: { failFirst: 1 } },
      );
    } finally {
      process.env = saved;
    }
    try {
      const first = await charge(gateway.url, 'pay-settings');
      assert.equal(
        first.status,
        503,
        'failFirst: 1 from the faults option refuses the first attempt',
      );
      const res = await request(`${gateway.url}/v1/charges`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ id: 'pay-settings', amount: 100, currency: 'EUR' }),
        reset: true,
      });
      const body = (await res.body.json()) as { status?: string };
      assert.equal(res.statusCode, 200);
      assert.equal(body.status, 'declined', 'declineRate 1 from the config declines every charge');
    } finally {
      await gateway.stop();
    }
  });
});
