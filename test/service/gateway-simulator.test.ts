import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { request } from 'undici';
import { parseFaults } from '../../service/gateway/faults.js';
import { parseLatency, seededRandom } from '../../service/gateway/latency.js';
import { parseLedgerLine, type LedgerCharge } from '../../service/gateway/ledger.js';
import { createGatewayServer, type GatewayOptions } from '../../service/gateway/simulator.js';

const dir = mkdtempSync(join(tmpdir(), 'hp-gateway-sim-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
const ledgerPath = () => join(dir, `ledger-${++files}.ndjson`);

interface Simulator {
  url: string;
  close(): Promise<void>;
}

async function startSimulator(options: Partial<GatewayOptions> = {}): Promise<Simulator> {
  const server = createGatewayServer({
    latency: parseLatency('none'),
    failureRate: 0,
    declineRate: 0,
    random: seededRandom(7),
    ...options,
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function call(
  url: string,
  method: 'GET' | 'POST' | 'DELETE',
  path: string,
  body?: unknown,
  signal?: AbortSignal,
): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await request(`${url}${path}`, {
    method,
    ...(body === undefined
      ? {}
      : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
    ...(signal === undefined ? {} : { signal }),
  });
  return { status: res.statusCode, json: (await res.body.json()) as Record<string, unknown> };
}

const chargeBody = (id: string, amount = 100) => ({ id, amount, currency: 'EUR' });

async function readLedger(url: string): Promise<LedgerCharge[]> {
  const res = await request(`${url}/v1/ledger`);
  assert.equal(res.statusCode, 200);
  assert.equal(res.headers['content-type'], 'application/x-ndjson');
  const text = await res.body.text();
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => {
      const charge = parseLedgerLine(line);
      assert.ok(charge, line);
      return charge;
    });
}

/** Polls `check` until it is true; fails after `attempts` tries (a bound, not a timing). */
async function eventually(check: () => Promise<boolean>, what: string, attempts = 500) {
  for (let i = 0; i < attempts; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.fail(`never happened: ${what}`);
}

describe('gateway simulator ledger', () => {
  test('each new charge is on a line of the ledger file when it is answered', async () => {
    const file = ledgerPath();
    const sim = await startSimulator({ ledgerFile: file });
    try {
      const res = await call(sim.url, 'POST', '/v1/charges', chargeBody('p-1'));
      assert.equal(res.status, 200);
      const lines = readFileSync(file, 'utf8').trim().split('\n');
      assert.equal(lines.length, 1);
      const line = JSON.parse(lines[0]!) as Record<string, unknown>;
      assert.equal(line.id, 'p-1');
      assert.equal(line.reference, res.json.reference);
      assert.equal(typeof line.created_at, 'string');
      // A replay appends nothing.
      await call(sim.url, 'POST', '/v1/charges', chargeBody('p-1'));
      assert.equal(readFileSync(file, 'utf8').trim().split('\n').length, 1);
    } finally {
      await sim.close();
    }
  });

  test('a simulator started on the same ledger file replays the charge instead of charging again', async () => {
    const file = ledgerPath();
    const first = await startSimulator({ ledgerFile: file });
    const charged = await call(first.url, 'POST', '/v1/charges', chargeBody('p-1'));
    await first.close();

    const second = await startSimulator({ ledgerFile: file, random: seededRandom(99) });
    try {
      const found = await call(second.url, 'GET', '/v1/charges/p-1');
      assert.equal(found.status, 200);
      assert.deepEqual(found.json, charged.json);
      const replayed = await call(second.url, 'POST', '/v1/charges', chargeBody('p-1'));
      assert.deepEqual(replayed.json, charged.json);
      const ledger = await readLedger(second.url);
      assert.deepEqual(
        ledger.map((c) => [c.id, c.creations]),
        [['p-1', 1]],
      );
    } finally {
      await second.close();
    }
  });

  test('two lines for one id in the ledger file count as two creations', async () => {
    const file = ledgerPath();
    const line = {
      id: 'p-2',
      amount: 5,
      currency: 'EUR',
      status: 'authorized',
      reference: 'ch_x',
      created_at: '2024-01-01T00:00:00.000Z',
    };
    writeFileSync(file, `${JSON.stringify(line)}\n${JSON.stringify(line)}\n`);
    const sim = await startSimulator({ ledgerFile: file });
    try {
      const [charge] = await readLedger(sim.url);
      assert.equal(charge?.creations, 2);
    } finally {
      await sim.close();
    }
  });

  test('a torn last line is cut off the file and later charges start on their own line', async () => {
    const file = ledgerPath();
    const first = await startSimulator({ ledgerFile: file });
    await call(first.url, 'POST', '/v1/charges', chargeBody('p-1'));
    await first.close();
    appendFileSync(file, '{"id":"p-torn","amo');

    const second = await startSimulator({ ledgerFile: file });
    try {
      await call(second.url, 'POST', '/v1/charges', chargeBody('p-3'));
      const lines = readFileSync(file, 'utf8').trim().split('\n');
      assert.deepEqual(
        lines.map((l) => (JSON.parse(l) as { id: string }).id),
        ['p-1', 'p-3'],
      );
    } finally {
      await second.close();
    }
  });

  test('GET /v1/ledger streams 100,000 charges as NDJSON', async () => {
    const file = ledgerPath();
    const lines: string[] = [];
    for (let i = 0; i < 100_000; i++) {
      lines.push(
        JSON.stringify({
          id: `p-${i}`,
          amount: i + 1,
          currency: 'EUR',
          status: i % 10 === 0 ? 'declined' : 'authorized',
          ...(i % 10 === 0 ? { reason: 'insufficient_funds' } : { reference: `ch_${i}` }),
          created_at: '2024-01-01T00:00:00.000Z',
        }),
      );
    }
    writeFileSync(file, `${lines.join('\n')}\n`);
    const sim = await startSimulator({ ledgerFile: file });
    try {
      const res = await request(`${sim.url}/v1/ledger`);
      assert.equal(res.headers['x-ledger-charges'], '100000');
      let count = 0;
      let last = '';
      let rest = '';
      for await (const chunk of res.body) {
        const parts = (rest + (chunk as Buffer).toString('utf8')).split('\n');
        rest = parts.pop() ?? '';
        for (const part of parts) {
          count += 1;
          last = part;
        }
      }
      assert.equal(rest, '');
      assert.equal(count, 100_000);
      assert.equal(parseLedgerLine(last)?.id, 'p-99999');
      assert.equal(parseLedgerLine(last)?.creations, 1);
    } finally {
      await sim.close();
    }
  });

  test('concurrent charges for one id create one charge', async () => {
    const sim = await startSimulator({ latency: parseLatency('uniform:0-5') });
    try {
      const answers = await Promise.all(
        Array.from({ length: 50 }, () => call(sim.url, 'POST', '/v1/charges', chargeBody('p-c'))),
      );
      assert.equal(new Set(answers.map((a) => a.json.reference)).size, 1);
      const ledger = await readLedger(sim.url);
      assert.deepEqual(
        ledger.map((c) => [c.id, c.creations]),
        [['p-c', 1]],
      );
    } finally {
      await sim.close();
    }
  });

  test('maxCharges together with a ledger file is refused', () => {
    assert.throws(
      () =>
        createGatewayServer({
          latency: parseLatency('none'),
          failureRate: 0,
          declineRate: 0,
          ledgerFile: ledgerPath(),
          maxCharges: 10,
        }),
      /maxCharges/,
    );
  });

  test('without a ledger file, charges past maxCharges are forgotten and counted as evicted', async () => {
    const sim = await startSimulator({ maxCharges: 2 });
    try {
      for (const id of ['a', 'b', 'c']) await call(sim.url, 'POST', '/v1/charges', chargeBody(id));
      const res = await request(`${sim.url}/v1/ledger`);
      assert.equal(res.headers['x-ledger-evicted'], '1');
      await res.body.dump();
      assert.equal((await call(sim.url, 'GET', '/v1/charges/a')).status, 404);
    } finally {
      await sim.close();
    }
  });
});

describe('gateway simulator faults', () => {
  test('GET, POST and DELETE /_faults read, change and clear the faults', async () => {
    const sim = await startSimulator();
    try {
      assert.deepEqual((await call(sim.url, 'GET', '/_faults')).json, {
        dropAfterCommitRate: 0,
        lateAnswerMs: 0,
        failFirst: 0,
        freeze: false,
      });
      await call(sim.url, 'POST', '/_faults', { failFirst: 2 });
      const changed = await call(sim.url, 'POST', '/_faults', { lateAnswerMs: 5 });
      assert.equal(changed.json.failFirst, 2);
      assert.equal(changed.json.lateAnswerMs, 5);
      const cleared = await call(sim.url, 'DELETE', '/_faults');
      assert.equal(cleared.json.failFirst, 0);
      assert.equal(cleared.json.lateAnswerMs, 0);
    } finally {
      await sim.close();
    }
  });

  test('an invalid fault is answered 400 naming it and changes nothing', async () => {
    const sim = await startSimulator();
    try {
      for (const body of [{ dropAfterCommitRate: 2 }, { failFirst: -1 }, { nope: 1 }]) {
        const res = await call(sim.url, 'POST', '/_faults', { freeze: true, ...body });
        assert.equal(res.status, 400);
        assert.equal(res.json.code, 'INVALID_FAULTS');
        assert.match(String(res.json.message), new RegExp(Object.keys(body)[0]!));
      }
      assert.equal((await call(sim.url, 'GET', '/_faults')).json.freeze, false);
    } finally {
      await sim.close();
    }
  });

  test('parseFaults applies a patch and names a bad field', () => {
    assert.deepEqual(parseFaults({ freeze: true, lateAnswerMs: 10 }), {
      dropAfterCommitRate: 0,
      lateAnswerMs: 10,
      failFirst: 0,
      freeze: true,
    });
    assert.throws(() => parseFaults({ lateAnswerMs: 1.5 }), /lateAnswerMs/);
    assert.throws(() => parseFaults([]), /JSON object/);
  });

  test('failFirst answers 503 to the first N attempts of each payment id, then charges once', async () => {
    const sim = await startSimulator({ faults: { failFirst: 2 } });
    try {
      const statuses = [];
      for (let i = 0; i < 3; i++)
        statuses.push((await call(sim.url, 'POST', '/v1/charges', chargeBody('p-1'))).status);
      assert.deepEqual(statuses, [503, 503, 200]);
      assert.equal((await call(sim.url, 'POST', '/v1/charges', chargeBody('p-2'))).status, 503);
      // A charged id is replayed, not refused again.
      assert.equal((await call(sim.url, 'POST', '/v1/charges', chargeBody('p-1'))).status, 200);
      const ledger = await readLedger(sim.url);
      assert.deepEqual(
        ledger.map((c) => [c.id, c.creations]),
        [['p-1', 1]],
      );
    } finally {
      await sim.close();
    }
  });

  test('dropAfterCommitRate 1 commits the charge and closes the socket unanswered', async () => {
    const file = ledgerPath();
    const sim = await startSimulator({ ledgerFile: file, faults: { dropAfterCommitRate: 1 } });
    try {
      await assert.rejects(call(sim.url, 'POST', '/v1/charges', chargeBody('p-d')), (error) => {
        assert.match((error as { code?: string }).code ?? '', /UND_ERR_SOCKET|ECONNRESET/);
        return true;
      });
      const ledger = await readLedger(sim.url);
      assert.deepEqual(
        ledger.map((c) => [c.id, c.status, c.creations]),
        [['p-d', 'authorized', 1]],
      );
      assert.match(readFileSync(file, 'utf8'), /"p-d"/);
      // The retry is answered with the charge made by the dropped attempt.
      await call(sim.url, 'DELETE', '/_faults');
      const retried = await call(sim.url, 'POST', '/v1/charges', chargeBody('p-d'));
      assert.equal(retried.json.reference, ledger[0]?.reference);
    } finally {
      await sim.close();
    }
  });

  test('lateAnswerMs commits the charge before it answers', async () => {
    const sim = await startSimulator({ faults: { lateAnswerMs: 3_600_000 } });
    try {
      const aborter = new AbortController();
      let answered = false;
      const pending = call(sim.url, 'POST', '/v1/charges', chargeBody('p-l'), aborter.signal).then(
        () => (answered = true),
        () => 'aborted',
      );
      await eventually(
        async () => (await call(sim.url, 'GET', '/v1/charges/p-l')).status === 200,
        'the late charge is in the ledger',
      );
      assert.equal(answered, false);
      aborter.abort();
      assert.equal(await pending, 'aborted');
    } finally {
      await sim.close();
    }
  });

  test('a late answer arrives once the delay has passed', async () => {
    const sim = await startSimulator({ faults: { lateAnswerMs: 1 } });
    try {
      const res = await call(sim.url, 'POST', '/v1/charges', chargeBody('p-l'));
      assert.equal(res.status, 200);
      assert.equal(res.json.status, 'authorized');
    } finally {
      await sim.close();
    }
  });

  test('a frozen simulator answers only /_faults; held requests are answered when thawed', async () => {
    const sim = await startSimulator();
    try {
      await call(sim.url, 'POST', '/_faults', { freeze: true });
      let healthAnswered = false;
      const health = call(sim.url, 'GET', '/health').then((r) => {
        healthAnswered = true;
        return r.status;
      });
      const charge = call(sim.url, 'POST', '/v1/charges', chargeBody('p-f'));
      assert.equal((await call(sim.url, 'GET', '/_faults')).json.freeze, true);
      assert.equal(healthAnswered, false);
      await call(sim.url, 'POST', '/_faults', { freeze: false });
      assert.equal(await health, 200);
      assert.equal((await charge).json.status, 'authorized');
    } finally {
      await sim.close();
    }
  });

  test('failureRate and declineRate keep their meaning next to the faults', async () => {
    const failing = await startSimulator({ failureRate: 1 });
    const declining = await startSimulator({ declineRate: 1 });
    try {
      const failed = await call(failing.url, 'POST', '/v1/charges', chargeBody('p-1'));
      assert.equal(failed.status, 503);
      assert.deepEqual(await readLedger(failing.url), []);
      const declined = await call(declining.url, 'POST', '/v1/charges', chargeBody('p-1'));
      assert.equal(declined.json.status, 'declined');
      assert.equal(declined.json.reason, 'insufficient_funds');
    } finally {
      await failing.close();
      await declining.close();
    }
  });
});
