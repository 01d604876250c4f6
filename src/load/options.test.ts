import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { resolveOptions, Schedule, shareFor } from './options.js';

describe('Schedule', () => {
  test('a constant rate spaces requests evenly, without drift', () => {
    const s = new Schedule(resolveOptions({ url: 'http://h/', rate: 3000 }));
    assert.equal(s.at(0), 0);
    assert.ok(Math.abs(s.at(1) - 1 / 3) < 1e-9);
    assert.ok(Math.abs(s.at(3_000_000) - 1_000_000) < 1e-6, 'no drift after 1000 s');
  });

  test('a ramp from 0 starts at once and fits the area under the rate', () => {
    const s = new Schedule(
      resolveOptions({
        url: 'http://h/',
        stages: [
          { durationMs: 1000, rate: 100 },
          { durationMs: 1000, rate: 100 },
          { durationMs: 1000, rate: 0 },
        ],
      }),
    );
    assert.equal(s.at(0), 0);
    // 0 -> 100 req/s over 1 s: 50 requests; then 100 more; then 50 while ramping down.
    assert.ok(s.at(49) < 1000 && s.at(50) >= 1000 - 1e-9, `${s.at(49)} ${s.at(50)}`);
    assert.ok(Math.abs(s.at(150) - 2000) < 1e-6);
    assert.ok(s.at(199) < 3000);
    assert.equal(s.at(200), Infinity);
    // Inside the first ramp the rate is t/10 req/s (t in ms), so k = t^2 / 20000.
    assert.ok(Math.abs(s.at(20) - Math.sqrt(20 * 20_000)) < 1e-9);
  });

  test('warm-up runs at the first stage rate before the ramps', () => {
    const s = new Schedule(
      resolveOptions({
        url: 'http://h/',
        warmupMs: 1000,
        stages: [{ durationMs: 1000, rate: 200 }],
      }),
    );
    assert.ok(Math.abs(s.at(100) - 500) < 1e-9);
    assert.ok(Math.abs(s.at(200) - 1000) < 1e-9);
  });
});

describe('shareFor', () => {
  test('splits connections, rate and requests among workers without losing any', () => {
    const o = resolveOptions({
      url: 'http://h/',
      rate: 1000,
      connections: 7,
      requests: 11,
      workers: 3,
    });
    const parts = [0, 1, 2].map((i) => shareFor(o, i, 3));
    assert.deepEqual(
      parts.map((p) => p.connections),
      [3, 2, 2],
    );
    assert.equal(
      parts.reduce((t, p) => t + p.requests, 0),
      11,
    );
    assert.ok(Math.abs(parts.reduce((t, p) => t + (p.rate ?? 0), 0) - 1000) < 1e-9);
  });
});
