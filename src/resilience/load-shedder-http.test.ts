import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, test } from 'node:test';
import { LoadShedder, shedHttp, type LoopSample, type LoopSampler } from './index.js';

class FakeSampler implements LoopSampler {
  next: LoopSample = { delayMs: 0, utilization: 0.1 };
  sample(): LoopSample {
    return this.next;
  }
  close(): void {}
}

/** A shedder on a hand-set sampler; `overload(delayMs)` applies one sample. */
function fakeShedder() {
  const sampler = new FakeSampler();
  let now = 0;
  const shedder = new LoadShedder({
    delayThresholdMs: 50,
    sampler,
    clock: { now: () => now },
    gain: 1e-9, // the proportional floor alone: level = delay / 50 - 1
    // Only update() moves it: the timer never fires during a test.
    sampleIntervalMs: 1e6,
    windowMs: 1e6,
  });
  const overload = (delayMs: number) => {
    sampler.next = { delayMs, utilization: 0.5 };
    now += 100;
    shedder.update();
  };
  return { shedder, overload };
}

describe('shedHttp', () => {
  async function listen(handler: Parameters<typeof createServer>[1]): Promise<[Server, string]> {
    const server = createServer(handler);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return [server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`];
  }

  test('answers 503 OVERLOADED before the handler while overloaded; exempt paths pass', async () => {
    const { shedder, overload } = fakeShedder();
    let handled = 0;
    const [server, base] = await listen(
      shedHttp(
        (_req, res) => {
          handled++;
          res.end('ok');
        },
        { shedder, priority: (req) => (req.url?.startsWith('/api/pay') ? 'critical' : 'low') },
      ),
    );
    try {
      assert.equal((await fetch(`${base}/api/report`)).status, 200);
      overload(65);
      const shed = await fetch(`${base}/api/report?x=1`);
      assert.equal(shed.status, 503);
      assert.equal(shed.headers.get('retry-after'), '1');
      assert.deepEqual(await shed.json(), {
        code: 'OVERLOADED',
        message: 'The server is overloaded; retry later.',
      });
      assert.equal((await fetch(`${base}/api/pay`)).status, 200);
      assert.equal((await fetch(`${base}/health/ready`)).status, 200);
      assert.equal((await fetch(`${base}/debug/pprof/profile`)).status, 200);
      assert.equal(handled, 4);
    } finally {
      server.close();
      await shedder.close();
    }
  });

  test('bad options throw HP_ERR_INVALID_OPTION', async () => {
    const { shedder } = fakeShedder();
    assert.throws(() => shedHttp(() => {}, { shedder: {} as never }), {
      code: 'HP_ERR_INVALID_OPTION',
    });
    assert.throws(() => shedHttp(() => {}, { shedder, neverShed: ['no-slash'] }), {
      code: 'HP_ERR_INVALID_OPTION',
    });
    assert.throws(() => shedHttp(() => {}, { shedder, retryAfterSeconds: -1 }), {
      code: 'HP_ERR_INVALID_OPTION',
    });
    await shedder.close();
  });
});
