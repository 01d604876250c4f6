/**
 * The Redis tier's scripts on a real Redis (the test server of scripts/services.sh): what a
 * delete of several keys and a load's fill send, and what they leave in L2. Each test has
 * its own namespace, as suites share the server.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { invalidationSeen } from '../../test/helpers/cache-invalidation.js';
import { after, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { redisForTests } from '../../test/helpers/services.js';
import { type Cache, createCache } from './cache.js';

const redis = await redisForTests();

/** Waits until `condition()` resolves true; fails with `what` instead of hanging. */
async function until(condition: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('RedisTier scripts', { skip: redis.skip }, () => {
  const clients: Redis[] = [];
  const caches: Cache[] = [];

  const client = (): Redis => {
    const c = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    c.on('error', () => undefined);
    clients.push(c);
    return c;
  };

  /** The names of the commands `c` sends from now on. */
  const recordCommands = (c: Redis): string[] => {
    const sent: string[] = [];
    const send = c.sendCommand.bind(c);
    c.sendCommand = (command, stream) => {
      sent.push(command.name);
      return send(command, stream);
    };
    return sent;
  };

  /** Two instances of one namespace, their clients, and a client for looking at L2. */
  const pair = async (): Promise<{
    a: Cache;
    b: Cache;
    aClient: Redis;
    raw: Redis;
    ns: string;
  }> => {
    const ns = `tier-test-${randomBytes(6).toString('hex')}`;
    const aClient = client();
    // A generous L2 deadline: on a loaded machine a slow answer must not count as an outage.
    const a = createCache({ namespace: ns, l2: aClient, l2TimeoutMs: 5000 });
    const b = createCache({ namespace: ns, l2: client(), l2TimeoutMs: 5000 });
    caches.push(a, b);
    await Promise.all([a.ready(), b.ready()]);
    return { a, b, aClient, raw: client(), ns };
  };

  after(async () => {
    for (const cache of caches) await cache.close().catch(() => undefined);
    for (const c of clients) c.disconnect();
  });

  test('deleteMany tombstones every key in L2 and drops it from the other L1 with one script call', async () => {
    const { a, b, aClient, raw, ns } = await pair();
    assert.equal(await b.getOrSet('x', () => 'x1'), 'x1');
    assert.equal(await b.getOrSet('y', () => 'y1'), 'y1');
    const seen = Promise.all([invalidationSeen(b, 'x'), invalidationSeen(b, 'y')]);
    const sent = recordCommands(aClient);
    await a.deleteMany(['x', 'y']);
    assert.deepEqual(sent, ['evalsha'], 'both keys in one script call');
    await seen;
    for (const key of ['x', 'y']) {
      const record = await raw.get(`${ns}:v:${key}`);
      assert.match(record ?? '', /^\d+\|0\|0\|d\|/, `L2 holds the tombstone of ${key}: ${record}`);
    }
    assert.equal(await b.getOrSet('x', () => 'x2'), 'x2', 'b loads x again');
    assert.equal(await b.getOrSet('y', () => 'y2'), 'y2', 'b loads y again');
  });

  test('deleteMany of a key whose record is newer than the delete still tombstones it above that record', async () => {
    const { a, raw, ns } = await pair();
    // Filled by an instance whose clock runs a minute ahead.
    const t = Date.now() + 60_000;
    const ahead = `${t * 1000}|${t}|${t}||0|"ahead"`;
    await raw.set(`${ns}:v:ahead`, ahead, 'PX', 60_000);
    await a.deleteMany(['ahead', 'plain']);
    const aheadVersion = Number(ahead.slice(0, ahead.indexOf('|')));
    const tombstone = (await raw.get(`${ns}:v:ahead`)) ?? '';
    assert.match(tombstone, /^\d+\|0\|0\|d\|/);
    assert.ok(Number(tombstone.slice(0, tombstone.indexOf('|'))) > aheadVersion);
    assert.match((await raw.get(`${ns}:v:plain`)) ?? '', /^\d+\|0\|0\|d\|/);
  });

  test("a load's fill writes the value and releases its lease in the same script call", async () => {
    const { a, aClient, raw, ns } = await pair();
    const sent = recordCommands(aClient);
    assert.equal(await a.getOrSet('k', () => 'v'), 'v');
    await until(
      async () => (await raw.exists(`${ns}:l:k`)) === 0 && (await raw.exists(`${ns}:v:k`)) === 1,
      'the value is in L2 and the lease is gone',
    );
    assert.deepEqual(
      sent.filter((name) => name !== 'get' && name !== 'mget'),
      ['set', 'evalsha'],
      'the lease taken, then one script call for the write and the release',
    );
    assert.match((await raw.get(`${ns}:v:k`)) ?? '', /"v"$/);
  });

  test('a fill refused because another instance wrote the key meanwhile still releases its lease', async () => {
    const { a, b, raw, ns } = await pair();
    let release!: (value: string) => void;
    const old = a.getOrSet('race', () => new Promise<string>((resolve) => (release = resolve)));
    await until(async () => (await raw.exists(`${ns}:l:race`)) === 1, 'a holds the lease');
    const seen = invalidationSeen(a, 'race');
    await b.set('race', 'new');
    await seen;
    release('old');
    assert.equal(await old, 'old', 'the load still answers its caller');
    await until(async () => (await raw.exists(`${ns}:l:race`)) === 0, 'the lease is released');
    assert.match((await raw.get(`${ns}:v:race`)) ?? '', /"new"$/, 'L2 keeps the newer write');
  });
});
