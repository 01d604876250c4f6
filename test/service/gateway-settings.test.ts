import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { latencySampler, parseLatencySpec } from '../../service/gateway/latency.js';
import {
  checkGatewaySettings,
  gatewaySettingsFromEnv,
  type GatewaySettings,
} from '../../service/gateway/settings.js';

describe('gateway simulator settings', () => {
  test('an empty environment gives the documented defaults', () => {
    assert.deepEqual(gatewaySettingsFromEnv({}), {
      host: '127.0.0.1',
      port: 3001,
      latency: { kind: 'lognormal', medianMs: 20, p99Ms: 150 },
      failureRate: 0.01,
      declineRate: 0.05,
      faults: { dropAfterCommitRate: 0, lateAnswerMs: 0, failFirst: 0, freeze: false },
    });
  });

  test('every variable is read into its field', () => {
    const settings = gatewaySettingsFromEnv({
      GATEWAY_HOST: '0.0.0.0',
      GATEWAY_PORT: '0',
      GATEWAY_LATENCY: 'uniform:2-10',
      GATEWAY_FAILURE_RATE: '0',
      GATEWAY_DECLINE_RATE: '1',
      GATEWAY_SEED: '42',
      GATEWAY_LEDGER_FILE: '/tmp/ledger.ndjson',
      GATEWAY_FAULTS: '{"failFirst":2}',
    });
    assert.deepEqual(settings, {
      host: '0.0.0.0',
      port: 0,
      latency: { kind: 'uniform', minMs: 2, maxMs: 10 },
      failureRate: 0,
      declineRate: 1,
      seed: 42,
      ledgerFile: '/tmp/ledger.ndjson',
      faults: { dropAfterCommitRate: 0, lateAnswerMs: 0, failFirst: 2, freeze: false },
    });
  });

  test('each bad variable is refused by its name', () => {
    const cases: [Record<string, string>, string, RegExp][] = [
      [{ GATEWAY_PORT: 'http' }, 'GATEWAY_PORT', /expected a port/],
      [{ GATEWAY_PORT: '70000' }, 'GATEWAY_PORT', /expected a port/],
      [{ GATEWAY_LATENCY: 'fast' }, 'GATEWAY_LATENCY', /expected none, fixed:MS/],
      [{ GATEWAY_FAILURE_RATE: '1.5' }, 'GATEWAY_FAILURE_RATE', /in \[0, 1\]/],
      [{ GATEWAY_DECLINE_RATE: 'x' }, 'GATEWAY_DECLINE_RATE', /in \[0, 1\]/],
      [{ GATEWAY_SEED: '1.5' }, 'GATEWAY_SEED', /an integer/],
      [{ GATEWAY_FAULTS: '{' }, 'GATEWAY_FAULTS', /not JSON/],
      [{ GATEWAY_FAULTS: '{"freeze":1}' }, 'GATEWAY_FAULTS', /freeze: expected true or false/],
    ];
    for (const [env, variable, message] of cases)
      assert.throws(() => gatewaySettingsFromEnv(env), { variable, message }, variable);
  });

  test('settings survive a trip through JSON (the IPC channel) unchanged', () => {
    const settings: GatewaySettings = gatewaySettingsFromEnv({
      GATEWAY_LATENCY: 'lognormal:5:40',
      GATEWAY_SEED: '7',
      GATEWAY_FAULTS: '{"lateAnswerMs":100,"freeze":true}',
    });
    assert.deepEqual(checkGatewaySettings(JSON.parse(JSON.stringify(settings))), settings);
  });

  test('a received message with a bad field is refused by the field name', () => {
    const good = gatewaySettingsFromEnv({});
    const cases: [unknown, string][] = [
      [null, 'settings'],
      [{ ...good, host: '' }, 'host'],
      [{ ...good, port: -1 }, 'port'],
      [{ ...good, latency: { kind: 'spiky' } }, 'latency.kind'],
      [{ ...good, latency: { kind: 'fixed', ms: -5 } }, 'latency.ms'],
      [{ ...good, latency: { kind: 'uniform', minMs: 9, maxMs: 1 } }, 'latency'],
      [{ ...good, failureRate: 2 }, 'failureRate'],
      [{ ...good, faults: { failFirst: -1 } }, 'faults'],
      [{ ...good, ledgerFile: 3 }, 'ledgerFile'],
    ];
    for (const [value, variable] of cases)
      assert.throws(() => checkGatewaySettings(value), { variable }, variable);
  });

  test('a parsed spec samples as its text says', () => {
    const random = () => 0.5;
    assert.equal(latencySampler(parseLatencySpec('none'))(random), 0);
    assert.equal(latencySampler(parseLatencySpec('fixed:7'))(random), 7);
    assert.equal(latencySampler(parseLatencySpec('uniform:2-10'))(random), 6);
    assert.deepEqual(parseLatencySpec(' 0 '), { kind: 'none' });
  });
});
