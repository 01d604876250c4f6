import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { ConfigError, loadConfig } from '../../service/config.js';
import { GatewayClient } from '../../service/gateway/client.js';

describe('GATEWAY_BREAKER and PREPARED', () => {
  let gateway: Server;
  let url: string;
  let attempts = 0;
  before(async () => {
    // A gateway in a brownout: every charge answers 503.
    gateway = createServer((req, res) => {
      if (req.method === 'POST') attempts++;
      req.resume();
      res.writeHead(503, { 'content-type': 'application/json' });
      res.end('{"code":"GATEWAY_UNAVAILABLE","message":"down"}');
    });
    await new Promise<void>((done) => gateway.listen(0, '127.0.0.1', done));
    url = `http://127.0.0.1:${(gateway.address() as AddressInfo).port}`;
  });
  after(async () => {
    await new Promise<void>((done) => gateway.close(() => done()));
  });

  const chargeMany = async (breaker: boolean) => {
    const client = new GatewayClient({ url, retries: 0, timeoutMs: 2000, breaker });
    const statuses: string[] = [];
    for (let i = 0; i < 30; i++) {
      const outcome = await client.charge({
        id: `0190a000-0000-7000-8000-${String(i).padStart(12, '0')}`,
        amount: 100,
        currency: 'EUR',
      });
      statuses.push(outcome.status);
    }
    await client.close();
    return statuses;
  };

  test('with the breaker, charges stop being sent once it opens; without it, every charge is sent', async () => {
    attempts = 0;
    const withBreaker = await chargeMany(true);
    assert.ok(withBreaker.includes('not_sent'), JSON.stringify(withBreaker));
    const sentWithBreaker = attempts;
    attempts = 0;
    const without = await chargeMany(false);
    assert.ok(!without.includes('not_sent'), JSON.stringify(without));
    assert.equal(attempts, 30);
    assert.ok(sentWithBreaker < 30, `${sentWithBreaker} charges reached the gateway`);
  });

  test('GATEWAY_BREAKER and PREPARED take on or off and name themselves on anything else', () => {
    const defaults = loadConfig({});
    assert.equal(defaults.gatewayBreaker, 'on');
    assert.equal(defaults.prepared, 'off');
    const set = loadConfig({ GATEWAY_BREAKER: 'off', PREPARED: 'on' });
    assert.equal(set.gatewayBreaker, 'off');
    assert.equal(set.prepared, 'on');
    for (const variable of ['GATEWAY_BREAKER', 'PREPARED']) {
      assert.throws(
        () => loadConfig({ [variable]: 'maybe' }),
        (error: unknown) => error instanceof ConfigError && error.variable === variable,
      );
    }
  });
});
