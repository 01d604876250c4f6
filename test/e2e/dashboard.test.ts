import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { describe, test } from 'node:test';
import Fastify from 'fastify';
import {
  Dashboard,
  fastifyDashboard,
  fastifyMetrics,
  RequestMetrics,
  RuntimeMetrics,
  SloMonitor,
} from 'hotpath/metrics';
import { CHROMIUM, launchChromium } from '../helpers/browser.js';

const isCI = process.env.CI === '1' || process.env.CI === 'true';
const artifacts = resolve(import.meta.dirname, '..', 'artifacts');
const skip = existsSync(CHROMIUM) || isCI ? false : `${CHROMIUM} is not installed`;

describe('live dashboard in a real browser', { skip }, () => {
  test('loads, draws its charts, and they move when traffic arrives', async () => {
    const requests = new RequestMetrics({ slowMs: Infinity });
    const runtime = new RuntimeMetrics();
    const slo = new SloMonitor({
      requests,
      rules: ['p99 < 250ms over 10s', 'error_rate < 5% over 10s'],
      intervalMs: 200,
    });
    const dashboard = new Dashboard({ intervalMs: 200, requests, runtime, slo, title: 'payments' });
    dashboard.addPanel({
      id: 'profiling',
      title: 'Profile',
      kind: 'links',
      links: [{ label: 'CPU profile 10 s', href: '/debug/pprof/flamegraph?seconds=10' }],
    });
    const app = Fastify();
    await app.register(fastifyMetrics, { requests });
    await app.register(fastifyDashboard, { dashboard });
    app.get('/api/items/:id', async (request) => ({ id: (request.params as { id: string }).id }));
    await app.listen({ host: '127.0.0.1', port: 0 });
    const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;

    const browser = await launchChromium();
    try {
      const page = await browser.newPage({ viewport: { width: 1366, height: 900 } });
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(`${base}/dashboard`);
      for (const id of ['requests', 'latency', 'errors', 'event-loop-delay', 'memory', 'gc']) {
        await page.locator(`[data-panel="${id}"] canvas`).first().waitFor({ timeout: 15_000 });
      }
      const button = page.locator('[data-panel="profiling"] a');
      assert.equal(await button.textContent(), 'CPU profile 10 s');
      assert.equal(await button.getAttribute('href'), '/debug/pprof/flamegraph?seconds=10');
      assert.equal(await button.getAttribute('target'), '_blank');
      // Page-side checks are strings: the test has no DOM types, and a compiled function would
      // carry the transpiler's helpers into the page.
      await page.waitForFunction('Number(document.body.dataset.frames) >= 2', null, {
        timeout: 15_000,
      });
      assert.equal(await page.locator('#connection').textContent(), 'live');
      const pointsBefore = Number(
        await page.locator('[data-panel="latency"]').getAttribute('data-points'),
      );

      for (let round = 0; round < 20; round++) {
        await Promise.all(
          Array.from({ length: 10 }, (_, i) =>
            fetch(`${base}/api/items/${round * 10 + i}`).then((r) => r.text()),
          ),
        );
      }

      const latest = (id: string): string =>
        `JSON.parse(document.querySelector('[data-panel="${id}"]')?.dataset.latest ?? '[]')`;
      await page.waitForFunction(
        `(${latest('requests')}[0] ?? 0) > 0 && (${latest('latency')}[2] ?? 0) > 0`,
        null,
        { timeout: 15_000 },
      );
      const pointsAfter = Number(
        await page.locator('[data-panel="latency"]').getAttribute('data-points'),
      );
      assert.ok(pointsAfter > pointsBefore, `${pointsBefore} -> ${pointsAfter} points`);
      const slo = JSON.parse(
        (await page.locator('[data-panel="slo"]').getAttribute('data-latest')) ?? '[]',
      ) as Array<{ label: string; ok: boolean }>;
      assert.deepEqual(
        slo.map((s) => s.label),
        ['p99 < 250ms over 10s', 'error_rate < 5% over 10s'],
      );
      assert.equal(await page.locator('.status-list li').count(), 2);
      // The uPlot canvases have real size on a laptop-sized viewport.
      const box = await page.locator('[data-panel="latency"] canvas').first().boundingBox();
      assert.ok(box !== null && box.width >= 300 && box.height >= 100, JSON.stringify(box));
      assert.deepEqual(errors, []);
      mkdirSync(artifacts, { recursive: true });
      await page.screenshot({ path: resolve(artifacts, 'dashboard.png'), fullPage: true });
    } finally {
      await browser.close();
      await app.close();
      await Promise.all([dashboard.close(), slo.close(), runtime.close(), requests.close()]);
    }
  });
});
