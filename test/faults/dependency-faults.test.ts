/**
 * Faults of the service's own dependencies under steady payment traffic: PostgreSQL stopped
 * and started, Redis killed and restarted. After each, every payment must end in the
 * gateway's state (docs/faults.md).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { assertMoneyInvariant, faultSuiteSkip, FaultCluster, Scenario, sleep } from './harness.js';

const skip = faultSuiteSkip();

describe('fault suite: PostgreSQL and Redis', { skip }, () => {
  let cluster: FaultCluster;
  before(async () => {
    cluster = await FaultCluster.start();
  });
  after(() => cluster?.close());

  test('PostgreSQL stopped under load: 503 DATABASE_UNAVAILABLE meanwhile, nothing lost', async () => {
    const scenario = await Scenario.start(cluster, 'PostgreSQL stopped and started');
    const result = await scenario.run({
      fault: async (s, healed) => {
        await s.cluster.postgres.stop('fast');
        await sleep(3000);
        healed();
        await s.cluster.postgres.start();
      },
    });
    assertMoneyInvariant(result);
    const errors = Object.keys(result.run.byCode);
    assert.ok(errors.length > 0, 'some requests failed during the outage');
    assert.deepEqual(
      errors.filter((e) => e !== '503 DATABASE_UNAVAILABLE'),
      [],
      'every error answer during the outage is 503 DATABASE_UNAVAILABLE',
    );
  });

  test('Redis killed under load: payments go on, nothing lost', async () => {
    const scenario = await Scenario.start(cluster, 'Redis SIGKILL and restart');
    const result = await scenario.run({
      fault: async (s, healed) => {
        await s.cluster.redis.kill('SIGKILL');
        await sleep(2000);
        healed();
        await s.cluster.redis.start();
      },
    });
    assertMoneyInvariant(result);
  });
});
