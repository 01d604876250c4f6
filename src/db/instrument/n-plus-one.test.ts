import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fingerprint } from './fingerprint.js';
import { NPlusOneDetector, type NPlusOneReport } from './n-plus-one.js';

const byUser = fingerprint('SELECT * FROM payments WHERE user_id = $1');

test('warn mode reports the fifth run of one query shape in a request, once', async () => {
  const reports: NPlusOneReport[] = [];
  const detector = new NPlusOneDetector({ threshold: 5, onDetect: (r) => reports.push(r) });
  await detector.run('GET /users', async () => {
    for (let i = 0; i < 7; i++) {
      await Promise.resolve();
      detector.observe(byUser);
    }
  });
  assert.equal(reports.length, 1);
  assert.equal(reports[0]!.route, 'GET /users');
  assert.equal(reports[0]!.count, 5);
});

test('off mode runs the function, returns its value and reports nothing', async () => {
  const reports: NPlusOneReport[] = [];
  const detector = new NPlusOneDetector({ mode: 'off', onDetect: (r) => reports.push(r) });
  const value = await detector.run('GET /users', async () => {
    for (let i = 0; i < 10; i++) detector.observe(byUser);
    return detector.reports().length;
  });
  assert.equal(value, 0);
  assert.equal(reports.length, 0);
  assert.equal(detector.detected, 0);
});
