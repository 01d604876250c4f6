import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MetricsRegistry } from '../metrics/index.js';
import { createCache } from './cache.js';
import { cachePanels, registerCacheMetrics } from './cache-metrics.js';

describe('registerCacheMetrics', () => {
  test('exposes per-tier counters of several caches through one registry', async () => {
    const registry = new MetricsRegistry();
    const users = createCache({ namespace: 'users' });
    const orders = createCache({ namespace: 'orders' });
    const stop = registerCacheMetrics(users, registry, { name: 'users' });
    registerCacheMetrics(orders, registry, { name: 'orders' });
    await users.getOrSet('a', () => 1);
    await users.getOrSet('a', () => 1);
    await users.getOrSet('a', () => 1);
    await orders.getOrSet('b', () => 2);
    await assert.rejects(users.getOrSet('boom', () => Promise.reject(new Error('x'))));
    const text = await registry.metrics();
    assert.match(text, /hotpath_cache_requests_total\{cache="users",tier="l1",result="hit"\} 2/);
    assert.match(text, /hotpath_cache_requests_total\{cache="users",tier="l1",result="miss"\} 2/);
    assert.match(text, /hotpath_cache_requests_total\{cache="orders",tier="l1",result="miss"\} 1/);
    assert.match(text, /hotpath_cache_factory_calls_total\{cache="users",outcome="error"\} 1/);
    assert.match(text, /hotpath_cache_entries\{cache="users"\} 1/);
    assert.throws(() => registerCacheMetrics(orders, registry, { name: 'users' }), {
      option: 'name',
    });
    stop();
    registerCacheMetrics(users, registry, { name: 'users' });
    await users.close();
    await orders.close();
  });

  test('dashboard panels report the hit ratio per tier', async () => {
    const cache = createCache({ namespace: 'p' });
    let t = 0;
    const [hits, loads] = cachePanels(cache, { name: 'p', clock: { now: () => t } });
    await cache.getOrSet('a', () => 1);
    for (let i = 0; i < 3; i++) await cache.getOrSet('a', () => 1);
    t += 1000;
    const [l1, l2] = hits!.sample();
    assert.equal(l1, 75);
    assert.equal(l2, 0);
    assert.deepEqual(loads!.sample(), [1, 0], 'one factory call in the last second');
    await cache.close();
  });
});
