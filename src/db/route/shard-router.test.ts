import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ReadWriteRouter, ShardRouter, hashKey, jumpHash } from './shard-router.js';

describe('ShardRouter', () => {
  test('adding a fifth shard moves about 1/5 of the keys; modulo hashing moves about 4/5', () => {
    const keys = Array.from({ length: 20_000 }, (_, i) => `user-${i}`);
    let jumpMoved = 0;
    let moduloMoved = 0;
    const four = new ShardRouter({ shards: ['a', 'b', 'c', 'd'] });
    const five = new ShardRouter({ shards: ['a', 'b', 'c', 'd', 'e'] });
    for (const key of keys) {
      const before = four.indexFor(key);
      const after = five.indexFor(key);
      if (before !== after) {
        jumpMoved++;
        assert.equal(after, 4, 'a moved key only ever moves to the new shard');
      }
      const h = hashKey(key);
      if (h % 4n !== h % 5n) moduloMoved++;
    }
    const jumpShare = jumpMoved / keys.length;
    const moduloShare = moduloMoved / keys.length;
    assert.ok(Math.abs(jumpShare - 1 / 5) < 0.02, `jump hash moved ${jumpShare}`);
    assert.ok(Math.abs(moduloShare - 4 / 5) < 0.02, `modulo moved ${moduloShare}`);
  });

  test('spreads keys evenly and routes a key always to the same shard', () => {
    const router = new ShardRouter({ shards: [0, 1, 2, 3, 4, 5, 6, 7] });
    const counts = new Array<number>(8).fill(0);
    for (let i = 0; i < 16_000; i++) counts[router.shardFor(i)]!++;
    for (const c of counts) assert.ok(c > 1700 && c < 2300, `uneven: ${counts.join(',')}`);
    assert.equal(router.shardFor('tenant-42'), router.shardFor('tenant-42'));
    assert.equal(jumpHash(123n, 1), 0);
    assert.throws(() => new ShardRouter({ shards: [] }), /shards/);
  });

  test('ReadWriteRouter sends writes to the primary and rotates reads over replicas', async () => {
    const closed: string[] = [];
    const pool = (name: string) => ({ name, end: async () => void closed.push(name) });
    const primary = pool('primary');
    const router = new ReadWriteRouter({ primary, replicas: [pool('r1'), pool('r2')] });
    assert.equal(router.writer(), primary);
    assert.deepEqual(
      [router.reader(), router.reader(), router.reader()].map((p) => p.name),
      ['r1', 'r2', 'r1'],
    );
    assert.equal(new ReadWriteRouter({ primary }).reader(), primary);
    await router.close();
    assert.deepEqual(closed.sort(), ['primary', 'r1', 'r2']);
  });
});
