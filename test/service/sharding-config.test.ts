import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ShardRouter, type Database } from 'hotpath/db';
import { ConfigError, loadConfig } from '../../service/config.js';
import { PaymentShards } from '../../service/payments/payment-shards.js';
import { PaymentRepository } from '../../service/payments/repository.js';
import { shardOfId, uuid7, UUID_PATTERN } from '../../service/payments/uuid7.js';

const A = 'postgres://postgres@127.0.0.1:5432/a';
const B = 'postgres://postgres@127.0.0.1:5432/b';

describe('DATABASE_SHARD_URLS', () => {
  test('two URLs give two shards in their order, with WORKERS above 1 allowed', () => {
    const config = loadConfig({ DATABASE_SHARD_URLS: `${A}, ${B}`, WORKERS: '2' }, []);
    assert.deepEqual(config.databaseShardUrls, [A, B]);
    assert.equal(config.databaseUrl, undefined);
    assert.equal(config.workers, 2);
  });

  test('unset or empty means one database', () => {
    assert.equal(loadConfig({}, []).databaseShardUrls, undefined);
    assert.equal(loadConfig({ DATABASE_SHARD_URLS: '' }, []).databaseShardUrls, undefined);
  });

  for (const [what, env, variable, message] of [
    [
      'with DATABASE_URL',
      { DATABASE_SHARD_URLS: `${A},${B}`, DATABASE_URL: A },
      'DATABASE_SHARD_URLS',
      /not both/,
    ],
    [
      'with DATABASE_REPLICA_URL',
      { DATABASE_SHARD_URLS: `${A},${B}`, DATABASE_REPLICA_URL: A },
      'DATABASE_REPLICA_URL',
      /replicas of sharded databases are not supported/,
    ],
    ['with one URL', { DATABASE_SHARD_URLS: A }, 'DATABASE_SHARD_URLS', /2 to 64/],
    [
      'with 65 URLs',
      {
        DATABASE_SHARD_URLS: Array.from({ length: 65 }, (_, i) => `${A}${i}`).join(','),
      },
      'DATABASE_SHARD_URLS',
      /got 65/,
    ],
    [
      'with a repeated URL',
      { DATABASE_SHARD_URLS: `${A},${A}` },
      'DATABASE_SHARD_URLS',
      /shard 1 repeats/,
    ],
    [
      'with an empty entry',
      { DATABASE_SHARD_URLS: `${A},,${B}` },
      'DATABASE_SHARD_URLS',
      /shard 1: empty/,
    ],
    [
      'with a Redis URL as a shard',
      { DATABASE_SHARD_URLS: `${A},redis://x` },
      'DATABASE_SHARD_URLS',
      /shard 1: expected postgres/,
    ],
  ] as const) {
    test(`is refused ${what}, naming ${variable}`, () => {
      assert.throws(
        () => loadConfig(env, []),
        (e: unknown) =>
          e instanceof ConfigError &&
          e.variable === variable &&
          e.message.startsWith(variable) &&
          message.test(e.message),
      );
    });
  }
});

describe('payment ids of a sharded service', () => {
  test('an id made for shard n names shard n, for every n in 0..63, and stays a UUIDv7', () => {
    for (let shard = 0; shard < 64; shard++) {
      const id = uuid7(Date.now(), shard);
      assert.match(id, UUID_PATTERN);
      assert.equal(id[14], '7', 'version 7');
      assert.ok('89ab'.includes(id[19]!), 'RFC 9562 variant');
      assert.equal(shardOfId(id), shard);
    }
  });

  test('ids keep their creation order whatever shard they name', () => {
    const ids = Array.from({ length: 2000 }, (_, i) => uuid7(Date.now(), i % 64));
    assert.deepEqual([...ids].sort(), ids);
  });

  test('a shard outside 0..63 is a RangeError', () => {
    assert.throws(() => uuid7(Date.now(), 64), RangeError);
    assert.throws(() => uuid7(Date.now(), -1), RangeError);
  });
});

describe('PaymentShards', () => {
  const fakeDb = { kind: 'postgres' } as unknown as Database;
  const repos = [
    new PaymentRepository(fakeDb),
    new PaymentRepository(fakeDb),
    new PaymentRepository(fakeDb),
  ];
  const shards = new PaymentShards(repos);
  const router = new ShardRouter({ shards: [0, 1, 2] });

  test("a user's repository and new ids follow the jump hash of its user_id", () => {
    for (let user = 1; user <= 300; user++) {
      const home = router.indexFor(user);
      assert.equal(shards.forUser(user), repos[home]);
      const id = shards.newId(user);
      assert.equal(shardOfId(id), home);
      assert.equal(shards.forId(id), repos[home]);
    }
  });

  test('an id naming no shard has no repository; a key has the shard its text hashes to', () => {
    assert.equal(shards.forId(uuid7(Date.now(), 3)), undefined);
    assert.equal(shards.forKey('order-17'), repos[router.indexFor('order-17')]);
  });

  test('with one repository every id is its own, and ids keep all their random bits', () => {
    const one = new PaymentShards([new PaymentRepository(fakeDb)]);
    assert.equal(one.isSharded, false);
    assert.equal(one.forId(uuid7(Date.now(), 5)), one.all()[0]);
    const bits = new Set(Array.from({ length: 200 }, () => shardOfId(one.newId(1))));
    assert.ok(bits.size > 1, 'the 6 bits stay random without shards');
  });
});
