/**
 * Gateway faults under steady payment traffic: slower than the service's timeout, half of its
 * answers 503, killed and restarted, frozen across a crash and restart of the service. After
 * each, every payment must end in the gateway's state (docs/faults.md).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { assertMoneyInvariant, faultSuiteSkip, FaultCluster, Scenario, sleep } from './harness.js';

const TIMEOUT_MS = 250;
const skip = faultSuiteSkip();

describe('fault suite: the gateway', { skip }, () => {
  let cluster: FaultCluster;
  before(async () => {
    cluster = await FaultCluster.start();
  });
  after(() => cluster?.close());

  test('a gateway slower than the timeout leaves payments pending, then settled as charged', async () => {
    const scenario = await Scenario.start(cluster, 'gateway slower than the timeout', {
      service: { gatewayTimeoutMs: TIMEOUT_MS },
    });
    const result = await scenario.run({
      durationMs: 11_000,
      fault: async (s, healed) => {
        // Charged at once, answered after the client gave up.
        await s.gateway.setFaults({ lateAnswerMs: TIMEOUT_MS * 3 });
        await sleep(1500);
        // Charged only after every attempt and the lookup gave up: the latency comes before
        // the charge, so the lookup finds nothing and the outcome is unknown (202).
        await s.gateway.restart({ latency: `fixed:${TIMEOUT_MS * 6}` });
        await sleep(1500);
        healed();
        await s.gateway.restart();
      },
    });
    assertMoneyInvariant(result);
    assert.ok((result.run.byStatus['202'] ?? 0) > 0, 'some outcomes were unknown (202)');
  });

  test('a gateway failing half of its charges leaves the unanswered ones pending, not failed', async () => {
    // In force from the start: a restart into it would add a second of refused connections.
    const scenario = await Scenario.start(cluster, 'gateway 50% failures', {
      gateway: { failureRate: 0.5 },
      service: { gatewayTimeoutMs: TIMEOUT_MS },
    });
    const result = await scenario.run({
      faultAtMs: 5000,
      fault: async (s, healed) => {
        healed();
        await s.gateway.restart({ failureRate: 0 });
      },
    });
    assertMoneyInvariant(result);
    assert.ok((result.run.byStatus['202'] ?? 0) > 0, 'some charges failed every attempt (202)');
  });

  test('a gateway killed and restarted keeps its charges: none lost, none made twice', async () => {
    const scenario = await Scenario.start(cluster, 'gateway SIGKILL and restart', {
      service: { gatewayTimeoutMs: TIMEOUT_MS },
    });
    const result = await scenario.run({
      fault: async (s, healed) => {
        await s.gateway.stop('SIGKILL');
        await sleep(2000);
        healed();
        await s.gateway.start();
      },
    });
    assertMoneyInvariant(result);
  });

  test('a gateway frozen across a crash and restart of the service fails no payment for want of an answer', async () => {
    const scenario = await Scenario.start(cluster, 'gateway SIGSTOP across a service restart', {
      service: { gatewayTimeoutMs: TIMEOUT_MS },
    });
    let readyWhileFrozenMs = -1;
    const result = await scenario.run({
      fault: async (s, healed) => {
        s.gateway.signal('SIGSTOP');
        await sleep(1000);
        await s.service.stop('SIGKILL');
        await s.service.start();
        readyWhileFrozenMs = await s.service.waitReady(10_000, { allowDegraded: true });
        await sleep(2000);
        healed();
        s.gateway.signal('SIGCONT');
      },
    });
    assertMoneyInvariant(result);
    assert.ok(readyWhileFrozenMs >= 0, 'the service became ready while the gateway was frozen');
  });
});
