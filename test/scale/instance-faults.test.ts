/**
 * An instance behind HAProxy that freezes (SIGSTOP) or dies (SIGKILL): the health check on
 * /health/ready takes it out, and new requests are served by the other instance; a connection
 * refused by the dead one is retried on the other (`retry-on conn-failure`, `option redispatch`).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { request } from 'undici';
import { join } from 'node:path';
import {
  haproxyCommand,
  scaleRequirements,
  serverStatus,
  startScaleCluster,
  type ScaleCluster,
} from './lib/scale-cluster.js';

const req = await scaleRequirements();

async function until(condition: () => Promise<boolean>, what: string, limitMs = 30_000) {
  const deadline = Date.now() + limitMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Sends `count` GETs of one payment through the balancer, one at a time; returns the statuses. */
async function readMany(base: string, id: string, count: number): Promise<number[]> {
  const statuses: number[] = [];
  for (let i = 0; i < count; i++) {
    const res = await request(`${base}/api/payments/${id}`, { reset: true });
    await res.body.dump();
    statuses.push(res.statusCode);
  }
  return statuses;
}

describe('an instance behind HAProxy that freezes or dies', { skip: req.skip }, () => {
  let cluster: ScaleCluster;
  let paymentId: string;

  before(async () => {
    cluster = await startScaleCluster({
      adminUrl: req.adminUrl,
      redisUrl: req.redisUrl,
      instances: 2,
      env: { GATEWAY_LATENCY: 'none', LOG_LEVEL: 'warn' },
    });
    const res = await request(`${cluster.lbUrl}/api/payments`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': 'faults-1' },
      body: JSON.stringify({ user_id: 7, amount: 500, currency: 'EUR' }),
    });
    paymentId = ((await res.body.json()) as { id: string }).id;
  });

  after(async () => {
    // A frozen instance would not stop on SIGTERM.
    for (const pid of cluster?.instancePids() ?? []) {
      try {
        process.kill(pid, 'SIGCONT');
      } catch {
        // already gone
      }
    }
    await cluster?.stop();
  });

  test('a frozen instance is marked DOWN by the health check and the other serves every request', async () => {
    const frozen = cluster.instancePids()[1]!;
    process.kill(frozen, 'SIGSTOP');
    try {
      await until(async () => (await serverStatus(cluster, 2)) === 'DOWN', 's2 DOWN');
      const statuses = await readMany(cluster.lbUrl, paymentId, 40);
      assert.deepEqual(new Set(statuses), new Set([200]));
    } finally {
      process.kill(frozen, 'SIGCONT');
    }
    await until(async () => (await serverStatus(cluster, 2)) === 'UP', 's2 UP again');
  });

  test('connections refused by a killed instance are retried on the other: every request answered 200', async (t) => {
    const killed = cluster.instancePids()[0]!;
    const socket = join(cluster.dir, 'haproxy.sock');
    // Health checks on s1 paused: HAProxy keeps it UP, so only the retry can save a request.
    await haproxyCommand(socket, 'disable health payments/s1');
    process.kill(killed, 'SIGKILL');
    // Once the process is gone: a dying process still completes handshakes on its listening
    // socket, then resets them, and a request that met that is answered 502, never retried.
    await until(() => Promise.resolve(!isAlive(killed)), 'the killed process to be gone');
    // "no check": in rotation, its state no longer set by checks.
    assert.equal(await serverStatus(cluster, 1), 'no check', 'HAProxy still sends to s1');
    const statuses = await readMany(cluster.lbUrl, paymentId, 40);
    assert.deepEqual(new Set(statuses), new Set([200]));
    // show stat: wretr (retried) and wredis (redispatched to another server) of s1.
    const row = (await haproxyCommand(socket, 'show stat'))
      .split('\n')
      .find((line) => line.startsWith('payments,s1,'))!
      .split(',');
    const retried = Number(row[15]) + Number(row[16]);
    t.diagnostic(`HAProxy retried ${row[15]} and redispatched ${row[16]} requests s1 refused`);
    assert.ok(retried > 0, 'requests met the dead instance and were retried');
    await haproxyCommand(socket, 'enable health payments/s1');
    await until(async () => (await serverStatus(cluster, 1)) === 'DOWN', 's1 DOWN');
  });
});
