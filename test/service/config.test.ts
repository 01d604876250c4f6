import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, test } from 'node:test';
import {
  ConfigError,
  configHelp,
  configSpec,
  loadConfig,
  parseFlags,
} from '../../service/config.js';

const readme = readFileSync(resolve(import.meta.dirname, '..', '..', 'README.md'), 'utf8');

describe('service configuration', () => {
  test('the README table lists every variable, and only those', () => {
    const documented = [...readme.matchAll(/^\| `([A-Z_]+)` \|/gm)].map((m) => m[1]);
    assert.deepEqual(
      documented,
      configSpec.map((s) => s.env),
    );
  });

  test('defaults give the embedded setup on 127.0.0.1:3000', () => {
    const config = loadConfig({}, []);
    assert.equal(config.host, '127.0.0.1');
    assert.equal(config.port, 3000);
    assert.equal(config.databaseUrl, undefined);
    assert.equal(config.dataDir, './data');
    assert.equal(config.gatewayUrl, undefined);
  });

  test('flags override environment variables', () => {
    const config = loadConfig({ PORT: '4000' }, ['--port', '5000', '--data-dir=/tmp/x']);
    assert.equal(config.port, 5000);
    assert.equal(config.dataDir, '/tmp/x');
  });

  for (const [name, value] of [
    ['PORT', '70000'],
    ['PORT', '3.5'],
    ['DB_POOL_MAX', '0'],
    ['GATEWAY_DECLINE_RATE', '-0.1'],
    ['DATABASE_URL', 'not a url'],
    ['REDIS_URL', 'http://x'],
    ['N_PLUS_ONE', 'sometimes'],
  ] as const) {
    test(`${name}=${value} is a ConfigError naming ${name}`, () => {
      assert.throws(
        () => loadConfig({ [name]: value }, []),
        (e: unknown) =>
          e instanceof ConfigError && e.variable === name && e.message.startsWith(name),
      );
    });
  }

  test('TRUST_PROXY is off by default and takes addresses and CIDRs', () => {
    assert.equal(loadConfig({}, []).trustProxy, false);
    assert.equal(loadConfig({ TRUST_PROXY: 'off' }, []).trustProxy, false);
    assert.deepEqual(
      loadConfig({ TRUST_PROXY: '10.0.0.5, 10.1.0.0/16,::1,fd00::/8' }, []).trustProxy,
      ['10.0.0.5', '10.1.0.0/16', '::1', 'fd00::/8'],
    );
    assert.deepEqual(loadConfig({}, ['--trust-proxy', '127.0.0.1']).trustProxy, ['127.0.0.1']);
  });

  for (const [value, message] of [
    ['on', /TRUST_PROXY: entry 0 "on": expected off, or comma-separated IP addresses or CIDRs/],
    ['2', /TRUST_PROXY: got the hop count "2": list the balancers' addresses or CIDRs instead/],
    ['10.0.0.5,', /TRUST_PROXY: entry 1 "": expected off, or comma-separated/],
    ['haproxy.local', /entry 0 "haproxy.local": expected off/],
    ['10.0.0.0/33', /entry 0 "10.0.0.0\/33": a CIDR prefix is an integer in \[0, 32\] for IPv4/],
    ['::1/129', /a CIDR prefix is an integer in \[0, 128\] for IPv6/],
    ['10.0.0.0/8/1', /entry 0 "10.0.0.0\/8\/1": a CIDR prefix/],
  ] as const) {
    test(`TRUST_PROXY=${value} is a ConfigError saying what is expected`, () => {
      assert.throws(
        () => loadConfig({ TRUST_PROXY: value }, []),
        (e: unknown) =>
          e instanceof ConfigError && e.variable === 'TRUST_PROXY' && message.test(e.message),
      );
    });
  }

  test('unknown flags and flags without a value are refused', () => {
    assert.throws(() => parseFlags(['--nope', '1']), ConfigError);
    assert.throws(() => parseFlags(['--port']), /missing value/);
    assert.throws(() => parseFlags(['stray']), ConfigError);
  });

  test('--help shows every variable', () => {
    const help = configHelp();
    for (const spec of configSpec) assert.match(help, new RegExp(`\\b${spec.env}\\b`));
  });
});
