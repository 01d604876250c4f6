import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type ServerResponse } from 'node:http';
import { describe, test } from 'node:test';
import { findMaxRate } from './find-max.js';
import { parseThreshold } from './thresholds.js';

describe('findMaxRate', () => {
  test('finds the knee of a server that answers one request at a time', async () => {
    // One request at a time, each held about 10 ms by a timer: at most ~100 req/s. Past that
    // the queue, and p99, grow without bound. The hold and the 300 ms target are large next
    // to the scheduling noise of a busy 2-core machine, so the knee does not move with load.
    const queue: ServerResponse[] = [];
    let busy = false;
    const next = () => {
      const res = queue.shift();
      if (res === undefined) {
        busy = false;
        return;
      }
      busy = true;
      setTimeout(() => {
        res.end('ok');
        next();
      }, 10);
    };
    const server = createServer((req, res) => {
      req.resume();
      queue.push(res);
      if (!busy) next();
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/`;
    try {
      const found = await findMaxRate(
        { url, durationMs: 2000, connections: 200 },
        [parseThreshold('p99<300ms')],
        { startRate: 20, maxSteps: 8 },
      );
      assert.ok(found.rate !== null, JSON.stringify(found.steps.map((s) => [s.rate, s.reasons])));
      assert.ok(found.rate >= 20 && found.rate <= 120, `knee at ${found.rate} req/s`);
      // Doubling first, then bisecting: every passing step is below every failing one.
      const passed = found.steps.filter((s) => s.isPassed).map((s) => s.rate);
      const failed = found.steps.filter((s) => !s.isPassed).map((s) => s.rate);
      assert.ok(failed.length > 0);
      assert.ok(Math.max(...passed) < Math.min(...failed));
      assert.equal(found.rate, Math.max(...passed));
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });
});
