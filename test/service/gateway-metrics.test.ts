import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startTestService, type TestService } from '../helpers/payments-service.js';

const create = (n: number) => ({
  method: 'POST' as const,
  url: '/api/payments',
  headers: { 'content-type': 'application/json', 'idempotency-key': `metrics-${n}` },
  payload: JSON.stringify({ user_id: 1, amount: 100 + n, currency: 'EUR' }),
});

async function metrics(svc: TestService): Promise<string> {
  const res = await svc.app.inject({ method: 'GET', url: '/metrics' });
  assert.equal(res.statusCode, 200);
  return res.body;
}

/** The value of `name{labels}` in a Prometheus text, or undefined when the series is absent. */
function value(text: string, name: string, labels: string): number | undefined {
  const escaped = `${name}{${labels}}`.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const match = new RegExp(`^${escaped} (\\S+)$`, 'm').exec(text);
  return match === null ? undefined : Number(match[1]);
}

describe("the gateway client's HTTP metrics on the service's /metrics", () => {
  // One service for the first two tests, in this order (starting one costs seconds).
  let svc: TestService;
  before(async () => {
    svc = await startTestService({ kind: 'pglite' });
  });
  after(async () => {
    await svc.close();
  });

  test('after one payment, /metrics has the client series of the gateway origin with non-zero counts', async () => {
    const res = await svc.app.inject(create(1));
    assert.equal(res.statusCode, 201);
    const text = await metrics(svc);
    const origin = `origin="${svc.gatewayUrl}"`;
    assert.equal(value(text, 'hotpath_http_client_connections_total', origin), 1);
    assert.equal(value(text, 'hotpath_http_client_connect_seconds_count', origin), 1);
    assert.equal(value(text, 'hotpath_http_client_queue_wait_seconds_count', origin), 1);
    assert.equal(value(text, 'hotpath_http_client_first_byte_seconds_count', origin), 1);
    assert.equal(value(text, 'hotpath_http_client_responses_total', `${origin},status="200"`), 1);
    assert.equal(value(text, 'hotpath_http_client_in_flight', origin), 0);
    assert.ok(value(text, 'hotpath_http_client_first_byte_seconds_sum', origin)! > 0);
  });

  test("the dashboard's gateway HTTP panel shows the mean first byte of the requests since its last sample, then 0", async () => {
    const { dashboard } = svc.observability;
    assert.ok(dashboard.panels().some((p) => p.id === 'gateway-http'));
    dashboard.sample(); // the previous test's request is before this sample
    assert.equal((await svc.app.inject(create(3))).statusCode, 201);
    const [firstByte] = dashboard.sample().values['gateway-http'] as number[];
    assert.ok(firstByte! > 0, `first byte ${firstByte} ms`);
    // Nothing sent since: no mean to show.
    assert.deepEqual(dashboard.sample().values['gateway-http'], [0, 0]);
  });

  test('a frozen gateway shows as a client error and no response, and the payment stays pending', async () => {
    const frozen = await startTestService({ kind: 'pglite' }, { timeoutMs: 200, retries: 0 });
    try {
      const freeze = await fetch(`${frozen.gatewayUrl}/_faults`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ freeze: true }),
      });
      assert.equal(freeze.status, 200);
      const res = await frozen.app.inject(create(2));
      assert.equal(res.statusCode, 202);
      assert.equal(res.json().status, 'pending');
      const text = await metrics(frozen);
      const origin = `origin="${frozen.gatewayUrl}"`;
      // The charge and the lookup after it both time out unanswered.
      assert.equal(value(text, 'hotpath_http_client_errors_total', origin), 2);
      assert.equal(
        value(text, 'hotpath_http_client_responses_total', `${origin},status="200"`),
        undefined,
      );
      assert.equal(value(text, 'hotpath_http_client_in_flight', origin), 0);
      await fetch(`${frozen.gatewayUrl}/_faults`, { method: 'DELETE' });
    } finally {
      await frozen.close();
    }
  });
});
