import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { describe, mock, test } from 'node:test';
import Fastify from 'fastify';
import {
  Dashboard,
  fastifyDashboard,
  fastifyMetrics,
  RequestMetrics,
  SloMonitor,
  type DashboardEvent,
} from './index.js';

describe('Dashboard', () => {
  test('samples every panel into frames, keeps a history and pushes to subscribers', async () => {
    mock.timers.enable({ apis: ['setInterval'] });
    try {
      let now = 1_000;
      const dashboard = new Dashboard({
        intervalMs: 1000,
        historyFrames: 2,
        clock: { now: () => now },
      });
      let n = 0;
      dashboard.addPanel({
        id: 'count',
        title: 'Count',
        series: [{ label: 'n' }],
        sample: () => [++n],
      });
      dashboard.addPanel({
        id: 'broken',
        title: 'Broken',
        series: [{ label: 'x' }],
        sample: () => {
          throw new Error('sampler bug');
        },
      });
      const events: DashboardEvent[] = [];
      const unsubscribe = dashboard.subscribe((e) => events.push(e));
      for (let i = 0; i < 3; i++) {
        now += 1000;
        mock.timers.tick(1000);
      }
      assert.deepEqual(
        events.map((e) => (e.type === 'frame' ? e.frame : e.type)),
        [
          { t: 2000, values: { count: [1] } },
          { t: 3000, values: { count: [2] } },
          { t: 4000, values: { count: [3] } },
        ],
      );
      assert.deepEqual(
        dashboard.history().map((f) => f.values.count),
        [[2], [3]],
      );
      dashboard.addPanel({ id: 'late', title: 'Late', kind: 'status', sample: () => [] });
      assert.equal(events.at(-1)!.type, 'panels');
      unsubscribe();
      assert.equal(dashboard.subscribers, 0);
      assert.deepEqual(
        dashboard.panels().map((p) => [p.id, p.kind]),
        [
          ['count', 'chart'],
          ['broken', 'chart'],
          ['late', 'status'],
        ],
      );
      await dashboard.close();
    } finally {
      mock.timers.reset();
    }
  });

  test('panel definitions are checked', async () => {
    const dashboard = new Dashboard();
    const sample = (): number[] => [1];
    dashboard.addPanel({ id: 'a', title: 'A', series: [{ label: 'a' }], sample });
    assert.throws(
      () => dashboard.addPanel({ id: 'a', title: 'A', series: [{ label: 'a' }], sample }),
      {
        option: 'panel.id',
      },
    );
    assert.throws(
      () => dashboard.addPanel({ id: 'Bad Id', title: 'B', series: [{ label: 'b' }], sample }),
      {
        option: 'panel.id',
      },
    );
    assert.throws(() => dashboard.addPanel({ id: 'c', title: 'C', series: [], sample }), {
      option: 'panel.series',
    });
    assert.equal(dashboard.removePanel('a'), true);
    await dashboard.close();
  });

  test('a links panel is listed with its links, checked, and never sampled', async () => {
    const dashboard = new Dashboard();
    dashboard.addPanel({
      id: 'profiling',
      title: 'Profile',
      kind: 'links',
      links: [{ label: 'CPU profile 10 s', href: '/debug/pprof/flamegraph?seconds=10' }],
    });
    assert.deepEqual(
      dashboard.panels().find((p) => p.id === 'profiling'),
      {
        id: 'profiling',
        title: 'Profile',
        kind: 'links',
        links: [{ label: 'CPU profile 10 s', href: '/debug/pprof/flamegraph?seconds=10' }],
      },
    );
    assert.equal(dashboard.sample().values['profiling'], undefined);
    assert.throws(() => dashboard.addPanel({ id: 'l2', title: 'L', kind: 'links', links: [] }), {
      option: 'panel.links',
    });
    assert.throws(
      () =>
        dashboard.addPanel({
          id: 'l3',
          title: 'L',
          kind: 'links',
          links: [{ label: 'x', href: 'javascript:alert(1)' }],
        }),
      { option: 'panel.links[].href' },
    );
    await dashboard.close();
  });

  test('the built-in panels read requests, runtime and SLOs', async () => {
    const requests = new RequestMetrics({ slowMs: Infinity });
    const slo = new SloMonitor({ requests, rules: ['p99 < 1s over 10s'], intervalMs: 0 });
    const dashboard = new Dashboard({ requests, slo });
    for (let i = 0; i < 10; i++) requests.observe('GET', '/x', i === 0 ? 500 : 200, 5);
    slo.evaluate();
    const frame = dashboard.sample();
    assert.ok((frame.values.requests as number[])[0]! > 0);
    const [p50, p95, p99] = frame.values.latency as number[];
    assert.ok(Math.abs(p50! - 5) < 0.05 && p95! <= p99!);
    assert.equal((frame.values.errors as number[])[0], 10);
    assert.deepEqual(frame.values.slo, [
      { label: 'p99 < 1s over 10s', ok: true, detail: '5.00 ms' },
    ]);
    await Promise.all([dashboard.close(), slo.close(), requests.close()]);
  });
});

describe('fastifyDashboard', () => {
  test('serves the page, its assets and uPlot from the package', async () => {
    const dashboard = new Dashboard({ title: 'payments <test>' });
    const app = Fastify();
    await app.register(fastifyDashboard, { dashboard });
    const page = await app.inject('/dashboard');
    assert.equal(page.statusCode, 200);
    assert.match(page.headers['content-type'] as string, /text\/html/);
    assert.match(page.body, /src="\/dashboard\/assets\/uPlot\.iife\.min\.js"/);
    assert.match(page.body, /payments &#60;test&#62;/);
    const uplot = await app.inject('/dashboard/assets/uPlot.iife.min.js');
    assert.equal(uplot.statusCode, 200);
    assert.match(uplot.body, /uPlot/);
    assert.equal((await app.inject('/dashboard/assets/main.js')).statusCode, 200);
    assert.equal((await app.inject('/dashboard/assets/style.css')).statusCode, 200);
    assert.equal((await app.inject('/dashboard/assets/..%2Fpackage.json')).statusCode, 404);
    await app.close();
    await dashboard.close();
  });

  test('streams panels, history and frames over SSE, outside request metrics, and closes', async () => {
    const requests = new RequestMetrics({ slowMs: Infinity });
    const dashboard = new Dashboard({ intervalMs: 20, requests });
    const app = Fastify();
    await app.register(fastifyMetrics, { requests });
    await app.register(fastifyDashboard, { dashboard, path: '/ops/dash' });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const { port } = app.server.address() as AddressInfo;
    const response = await fetch(`http://127.0.0.1:${port}/ops/dash/events`);
    assert.equal(response.headers.get('content-type'), 'text/event-stream; charset=utf-8');
    const reader = response.body!.getReader();
    let text = '';
    while (!/\ndata: \{"t":/.test(text)) {
      const { value, done } = await reader.read();
      if (done) break;
      text += Buffer.from(value).toString('utf8');
    }
    assert.match(text, /^retry: 2000\n\nevent: panels\ndata: \[\{"id":"requests"/);
    assert.match(text, /event: history\ndata: \[/);
    assert.match(text, /\ndata: \{"t":\d+,"values":\{"requests":\[/);
    assert.equal(dashboard.subscribers, 1);
    await app.close();
    await reader.cancel().catch(() => undefined);
    assert.equal(requests.inFlight, 0);
    assert.doesNotMatch(await requests.registry.metrics(), /events/);
    await dashboard.close();
    await requests.close();
  });
});
