/**
 * The service itself stopped under steady payment traffic: SIGTERM (it drains) and SIGKILL
 * (it does not), each followed by a restart on the same port. After each, every payment must
 * end in the gateway's state (docs/faults.md).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { assertMoneyInvariant, faultSuiteSkip, FaultCluster, Scenario } from './harness.js';

const skip = faultSuiteSkip();

describe('fault suite: the service stopped', { skip }, () => {
  let cluster: FaultCluster;
  before(async () => {
    cluster = await FaultCluster.start();
  });
  after(() => cluster?.close());

  test('SIGTERM drains in-flight payments and exits 0; the restarted service goes on', async () => {
    const scenario = await Scenario.start(cluster, 'service SIGTERM and restart');
    let exit: number | string | null = null;
    const result = await scenario.run({
      fault: async (s, healed) => {
        s.service.signal('SIGTERM');
        exit = await s.service.exited();
        healed();
        await s.service.start();
      },
    });
    assertMoneyInvariant(result);
    assert.equal(exit, 0, 'the service exited 0 after draining');
    // Every payment it began was answered with its final state before it exited.
    assert.equal(result.settledLater, 0, 'no payment was left for the reconciler');
  });

  test('SIGKILL loses no acknowledged payment; those in flight are settled after the restart', async () => {
    const scenario = await Scenario.start(cluster, 'service SIGKILL and restart');
    const result = await scenario.run({
      fault: async (s, healed) => {
        await s.service.stop('SIGKILL');
        healed();
        await s.service.start();
      },
    });
    assertMoneyInvariant(result);
  });
});
