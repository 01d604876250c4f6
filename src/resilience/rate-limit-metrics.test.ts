import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MetricsRegistry } from '../metrics/index.js';
import { LocalRateLimiter, registerRateLimitMetrics } from './index.js';

describe('registerRateLimitMetrics', () => {
  test('exposes decisions, Redis errors and fallbacks per limiter', async () => {
    const registry = new MetricsRegistry();
    const api = new LocalRateLimiter({ rate: 1, burst: 1 });
    const login = new LocalRateLimiter({ rate: 1, burst: 2 });
    registerRateLimitMetrics(api, registry, { name: 'api' });
    const stop = registerRateLimitMetrics(login, registry, { name: 'login' });
    api.takeSync('k');
    api.takeSync('k');
    login.takeSync('k');
    const text = await registry.metrics();
    assert.match(text, /hotpath_rate_limit_decisions_total\{limiter="api",result="allowed"\} 1/);
    assert.match(text, /hotpath_rate_limit_decisions_total\{limiter="api",result="limited"\} 1/);
    assert.match(text, /hotpath_rate_limit_decisions_total\{limiter="login",result="allowed"\} 1/);
    assert.match(text, /hotpath_rate_limit_redis_errors_total\{limiter="api"\} 0/);
    assert.match(text, /hotpath_rate_limit_fallbacks_total\{limiter="login"\} 0/);
    stop();
    login.takeSync('k');
    assert.match(
      await registry.metrics(),
      /hotpath_rate_limit_decisions_total\{limiter="login",result="allowed"\} 1/,
      'no longer read once stopped',
    );
    assert.throws(() => registerRateLimitMetrics(api, registry, { name: 'api' }), {
      code: 'HP_ERR_INVALID_OPTION',
    });
  });
});
