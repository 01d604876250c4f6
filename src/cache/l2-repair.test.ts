import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { L2Repair } from './l2-repair.js';

function recorder(failKeys = new Set<string>()): {
  log: string[];
  ops: Parameters<L2Repair['replay']>[0];
} {
  const log: string[] = [];
  return {
    log,
    ops: {
      deleteKey: async (key) => (log.push(`key:${key}`), !failKeys.has(key)),
      deleteTag: async (tag) => (log.push(`tag:${tag}`), true),
      clear: async () => (log.push('clear'), true),
    },
  };
}

describe('L2Repair', () => {
  test('replays tags then keys, once each, and keeps what failed again', async () => {
    const repair = new L2Repair();
    repair.markKey('a');
    repair.markKey('b');
    repair.markKey('a');
    repair.markTag('user:1');
    const { log, ops } = recorder(new Set(['b']));
    await repair.replay(ops);
    assert.deepEqual(log, ['tag:user:1', 'key:a', 'key:b']);
    assert.equal(repair.pending, 1);
    const second = recorder();
    await repair.replay(second.ops);
    assert.deepEqual(second.log, ['key:b']);
    assert.equal(repair.pending, 0);
  });

  test('a clear replaces every remembered key and tag', async () => {
    const repair = new L2Repair();
    repair.markKey('a');
    repair.markTag('t');
    repair.markAll();
    const { log, ops } = recorder();
    await repair.replay(ops);
    assert.deepEqual(log, ['clear']);
    assert.equal(repair.pending, 0);
  });

  test('past 10,000 keys it falls back to one clear', async () => {
    const repair = new L2Repair();
    for (let i = 0; i <= 10_000; i++) repair.markKey(`k${i}`);
    const { log, ops } = recorder();
    await repair.replay(ops);
    assert.deepEqual(log, ['clear']);
  });
});
