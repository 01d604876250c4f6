/**
 * Several processes sharing one RedisRateLimiter key admit, all together, no more than the
 * rate allows: three children (test/fixtures/rate-limit-hammer.ts) ask for the same key as
 * fast as they can for 2 s, and the sum of what they were granted is compared with
 * rate × elapsed + burst.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { redisForTests } from '../helpers/services.js';

const available = await redisForTests();
const root = resolve(import.meta.dirname, '..', '..');
const fixture = resolve(root, 'test/fixtures/rate-limit-hammer.ts');

interface Result {
  admitted: number;
  denied: number;
  fallbacks: number;
  redisErrors: number;
  start: number;
  end: number;
}

/** Starts one child; resolves `ready` once it printed "ready", `result` with its last line. */
function child(args: string[]) {
  const proc = spawn(
    process.execPath,
    ['--conditions=source', '--import', 'tsx', fixture, ...args],
    {
      cwd: root,
      stdio: ['pipe', 'pipe', 'inherit'],
    },
  );
  const lines = createInterface({ input: proc.stdout! });
  let onReady: () => void;
  const ready = new Promise<void>((r) => (onReady = r));
  const result = new Promise<Result>((resolveResult, reject) => {
    lines.on('line', (line) => {
      if (line === 'ready') onReady();
      else if (line.startsWith('{')) resolveResult(JSON.parse(line) as Result);
    });
    proc.once('exit', (code) => reject(new Error(`hammer exited with ${code} before its result`)));
  });
  // Awaited by the test; a child that fails while another is awaited must not go unhandled.
  result.catch(() => undefined);
  return { proc, ready, result };
}

describe('RedisRateLimiter shared by several processes', { skip: available.skip }, () => {
  test('three processes on one key admit no more than rate × elapsed + burst in total', async (t) => {
    const rate = 1000;
    const burst = 100;
    const key = `hp:test:rl-procs:${randomBytes(6).toString('hex')}`;
    const children = [1, 2, 3].map(() =>
      child([available.url, key, String(rate), String(burst), '2000']),
    );
    try {
      await Promise.all(children.map((c) => c.ready));
      for (const c of children) c.proc.stdin!.write('go\n');
      const results = await Promise.all(children.map((c) => c.result));
      const admitted = results.reduce((sum, r) => sum + r.admitted, 0);
      const denied = results.reduce((sum, r) => sum + r.denied, 0);
      const elapsedMs =
        Math.max(...results.map((r) => r.end)) - Math.min(...results.map((r) => r.start));
      const overlapMs =
        Math.min(...results.map((r) => r.end)) - Math.max(...results.map((r) => r.start));
      // Date.now() truncates to the millisecond: the last decision may be up to 1 ms past `end`.
      const ceiling = (rate * (elapsedMs + 1)) / 1000 + burst;
      const summary = JSON.stringify({ admitted, denied, elapsedMs, overlapMs, ceiling, results });
      t.diagnostic(summary);
      for (const r of results)
        assert.equal(r.fallbacks, 0, `every decision was Redis's: ${summary}`);
      assert.ok(admitted <= ceiling, `over the limit: ${summary}`);
      // Demand was far above the rate the whole time all three ran: the limit was reached.
      assert.ok(admitted >= (0.9 * rate * overlapMs) / 1000, `far under the limit: ${summary}`);
      assert.ok(denied > admitted, `the processes asked for more than the rate: ${summary}`);
    } finally {
      for (const c of children) if (c.proc.exitCode === null) c.proc.kill();
      const client = new Redis(available.url);
      await client.del(key);
      client.disconnect();
    }
  });
});
