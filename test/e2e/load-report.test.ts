/**
 * The HTML report opens in a real headless Chromium, loads nothing from the network and
 * draws its three plots (and the comparison with a baseline).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { load, renderHtmlReport, type LoadResult } from 'hotpath/load';
import type { Browser } from 'playwright-core';
import { launchChromium } from '../helpers/browser.js';

/** An SVG path as the page script sees it: the test program is type-checked without the DOM lib. */
interface SvgPath {
  dataset: Record<string, string | undefined>;
  getTotalLength(): number;
  getBBox(): { width: number };
}

describe('the HTML report', () => {
  let browser: Browser;
  let base: LoadResult;
  let current: LoadResult;
  const dir = mkdtempSync(join(tmpdir(), 'hotpath-report-'));

  before(async () => {
    // Every 50th request takes 30 ms, so the tail has something to show.
    let n = 0;
    const server = createServer((req, res) => {
      req.resume();
      if (++n % 50 === 0) setTimeout(() => res.end('slow'), 30);
      else res.end('fast');
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/`;
    try {
      base = await load({ url, rate: 300, durationMs: 2500, connections: 20 });
      current = await load({ url, rate: 400, durationMs: 2500, connections: 20 });
    } finally {
      server.closeAllConnections();
      server.close();
    }
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('shows latency over time, the percentile distribution and requests per second', async () => {
    const file = join(dir, 'report.html');
    writeFileSync(file, renderHtmlReport(current, { baseline: base, title: 'checkout run' }));
    const page = await browser.newPage();
    const requested: string[] = [];
    const errors: string[] = [];
    page.on('request', (r) => requested.push(r.url()));
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    await page.goto(pathToFileURL(file).href);
    assert.equal(await page.title(), 'checkout run');
    const charts = await page.$$eval('svg.chart', (svgs) =>
      svgs.map((svg) => ({
        id: svg.id,
        width: svg.getBoundingClientRect().width,
        series: [...svg.querySelectorAll('path.series')]
          .map((el) => el as unknown as SvgPath)
          .map((p) => ({
            name: p.dataset.series,
            length: p.getTotalLength(),
            box: p.getBBox().width,
          })),
      })),
    );
    assert.deepEqual(
      charts.map((c) => c.id),
      ['latency-over-time', 'percentile-distribution', 'requests-over-time'],
    );
    for (const chart of charts) {
      assert.ok(chart.width > 300, `${chart.id} is ${chart.width}px wide`);
      assert.ok(chart.series.length > 0, `${chart.id} has no line`);
      for (const s of chart.series)
        assert.ok(
          s.length > 50 && s.box > 50,
          `${chart.id}/${s.name} is not drawn: ${JSON.stringify(s)}`,
        );
    }
    assert.deepEqual(
      charts[1]!.series.map((s) => s.name),
      ['from intended send', 'from actual send', 'baseline'],
    );
    const verdicts = await page.$$eval('table tr td:last-child', (tds) =>
      tds.map((td) => td.textContent),
    );
    assert.ok(verdicts.some((v) => v === 'within noise' || v === 'better' || v === 'worse'));
    assert.deepEqual(requested, [pathToFileURL(file).href], 'the report loads nothing else');
    assert.deepEqual(errors, []);
    await page.close();
  });
});
