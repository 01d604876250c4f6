import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, test } from 'node:test';
import { Histogram } from 'hotpath/metrics';
import { ClusterView } from '../../service/cluster-dashboard.js';

/** A stand-in for a cluster worker: messages in, nothing out. */
function fakeWorker() {
  const worker = Object.assign(new EventEmitter(), {
    isConnected: () => true,
    send: () => true,
  });
  return worker;
}

function recent(slot: number, requests: number, latencyUs: number[]) {
  const h = new Histogram();
  for (const v of latencyUs) h.record(v);
  return { type: 'hotpath:cluster:recent', slot, requests, windowMs: 2000, latency: h.snapshot() };
}

describe('ClusterView', () => {
  test("sums the workers' rates and reads the whole p99 from their merged histograms", async () => {
    const view = new ClusterView(2, { now: () => 0 });
    const [w1, w2] = [fakeWorker(), fakeWorker()];
    view.watch(w1);
    view.watch(w2);
    const fast = Array.from({ length: 100 }, (_, i) => 1000 + i);
    const slow = Array.from({ length: 100 }, (_, i) => 50_000 + i * 100);
    w1.emit('message', recent(1, 100, fast));
    w2.emit('message', recent(2, 300, slow));
    const v = view.view();
    assert.deepEqual(
      v.workers.map((f) => f.rps),
      [50, 150],
    );
    assert.equal(v.all.rps, 200);
    const merged = new Histogram();
    for (const x of [...fast, ...slow]) merged.record(x);
    assert.equal(v.all.p99Ms, merged.percentile(99) / 1000);
    assert.equal(
      v.workers[0]!.p99Ms,
      Histogram.fromSnapshot(recent(1, 0, fast).latency).percentile(99) / 1000,
    );
    await view.close();
  });

  test('a worker with no figures for 5 s shows none, and the whole leaves it out', async () => {
    let now = 0;
    const view = new ClusterView(2, { now: () => now });
    const [w1, w2] = [fakeWorker(), fakeWorker()];
    view.watch(w1);
    view.watch(w2);
    w1.emit('message', recent(1, 100, [1000]));
    now = 4000;
    w2.emit('message', recent(2, 300, [2000]));
    now = 6000;
    const v = view.view();
    assert.deepEqual(v.workers[0], { rps: null, p99Ms: null });
    assert.equal(v.workers[1]!.rps, 150);
    assert.equal(v.all.rps, 150);
    assert.equal(v.all.p99Ms, 2);
    await view.close();
  });
});
