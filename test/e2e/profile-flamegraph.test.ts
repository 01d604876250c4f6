import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { launchChromium } from '../helpers/browser.js';
import { keepBusy, plantedHotLoop } from '../fixtures/profile/workload.js';
import type { ProfiledServer } from '../fixtures/profile/server.js';
import { startProfiledServer } from '../fixtures/profile/server.js';

describe('flame graph page in headless Chromium', () => {
  let server: ProfiledServer;
  let browser: Browser;
  before(async () => {
    server = await startProfiledServer();
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await server?.close();
  });

  test('renders the hot function, zooms on click and highlights search matches', async () => {
    const page = await browser.newPage({ viewport: { width: 1200, height: 800 } });
    const requests: string[] = [];
    page.on('request', (r) => requests.push(r.url()));
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    const url = `${server.base}/debug/pprof/flamegraph?seconds=1`;
    await keepBusy(page.goto(url), plantedHotLoop);

    const hot = page.locator('.frame[data-name="plantedHotLoop"]').first();
    await hot.waitFor();
    const chartWidth = (await page.locator('#chart').boundingBox())!.width;
    const rootBox = (await page.locator('.frame[data-name="(root)"]').boundingBox())!;
    assert.ok(Math.abs(rootBox.width - chartWidth) < 2);

    // Zoom into the hot frame's parent (or itself when it is a root child): it must fill the chart.
    await hot.click();
    assert.equal(await page.locator('body').getAttribute('data-zoomed'), 'plantedHotLoop');
    const zoomed = (await page
      .locator('.frame[data-name="plantedHotLoop"]:not(.dim)')
      .first()
      .boundingBox())!;
    assert.ok(
      Math.abs(zoomed.width - chartWidth) < 2,
      `zoomed width ${zoomed.width} of ${chartWidth}`,
    );
    assert.match(
      (await page.locator('#details').textContent()) ?? '',
      /plantedHotLoop[\s\S]*total [\d.]+ (ms|s) \([\d.]+%\)\s+self/,
    );

    await page.locator('#reset').click();
    assert.equal(await page.locator('body').getAttribute('data-zoomed'), '(root)');

    await page.locator('#search').fill('planted');
    assert.ok((await page.locator('.frame.match').count()) > 0);
    assert.match((await page.locator('#matched').textContent()) ?? '', /matched: [\d.]+%/);
    assert.match(
      (await page.locator('#top tbody tr').first().textContent()) ?? '',
      /plantedHotLoop/,
    );

    assert.deepEqual(errors, []);
    assert.deepEqual(requests, [url]);
  });
});
