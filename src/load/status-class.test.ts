/**
 * Latency by status class: a node:http server on 127.0.0.1 that admits slowly (200 after
 * 40 ms), refuses at once (429, 503) and never answers some requests (frozen). The server's
 * counts are the truth the result is held to; the 40 ms delay is a lower bound no admitted
 * response can beat, so the admitted latency is told apart from the refusals' without any
 * upper bound on time.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type RequestListener } from 'node:http';
import { describe, test } from 'node:test';
import { formatResult } from './format.js';
import { load } from './load.js';
import { mergeResults } from './merge.js';
import { renderHtmlReport } from './report-html.js';
import type { RequestMix } from './request-mix.js';
import type { LoadResult } from './result.js';
import { checkThresholds, parseThreshold } from './thresholds.js';
import { InvalidOptionError } from '../errors/index.js';

const ADMIT_MS = 50;
// The bound an admitted response cannot beat: the delay less 1 ms of timer truncation and the
// histogram's 1% precision.
const ADMIT_FLOOR_MS = 45;

interface Served {
  admitted: number;
  limited: number;
  shed: number;
  frozen: number;
}

async function withServer<T>(served: Served, fn: (url: string) => Promise<T>): Promise<T> {
  const handler: RequestListener = (req, res) => {
    req.resume();
    if (req.url === '/ok') {
      served.admitted++;
      setTimeout(() => res.end('ok'), ADMIT_MS);
    } else if (req.url === '/limited') {
      served.limited++;
      res.writeHead(429, { 'retry-after': '1' }).end();
    } else if (req.url === '/shed') {
      served.shed++;
      res.writeHead(503).end();
    } else served.frozen++; // never answered
  };
  const server = createServer(handler);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  try {
    return await fn(`http://127.0.0.1:${(server.address() as { port: number }).port}`);
  } finally {
    server.closeAllConnections();
    server.close();
  }
}

const MIX: RequestMix = {
  requests: [
    { name: 'ok', path: '/ok', weight: 4 },
    { name: 'limited', path: '/limited', weight: 3 },
    { name: 'shed', path: '/shed', weight: 2 },
    { name: 'frozen', path: '/frozen', weight: 1 },
  ],
};

function checkClasses(r: LoadResult, served: Served): void {
  const classes = r.byStatusClass!;
  assert.deepEqual(Object.keys(classes), ['2xx', '4xx', '5xx']);
  assert.equal(classes['2xx']!.count, served.admitted);
  assert.equal(classes['4xx']!.count, served.limited);
  assert.equal(classes['5xx']!.count, served.shed);
  // A frozen request has no status: it is a timeout, in no class.
  assert.equal(r.errors.timeout, served.frozen);
  assert.equal(r.latency.count, served.admitted + served.limited + served.shed);
  assert.ok(
    classes['2xx']!.min >= ADMIT_FLOOR_MS * 1000,
    `every admitted response took at least ${ADMIT_FLOOR_MS} ms: min ${classes['2xx']!.min} µs`,
  );
}

describe('load: latency by status class', () => {
  test('keeps admitted (2xx) responses apart from refusals (4xx, 5xx), as the server counted them', async () => {
    const served: Served = { admitted: 0, limited: 0, shed: 0, frozen: 0 };
    await withServer(served, async (url) => {
      const r = await load({
        url,
        mix: MIX,
        requests: 200,
        connections: 8,
        timeoutMs: 300,
        seed: 3,
      });
      assert.ok(served.admitted > 0 && served.limited > 0 && served.shed > 0 && served.frozen > 0);
      checkClasses(r, served);
      // Survives the JSON file, and merges exactly: two copies hold twice every count.
      const copy = JSON.parse(JSON.stringify(r)) as LoadResult;
      const twice = mergeResults([copy, copy]);
      assert.equal(twice.byStatusClass!['2xx']!.count, 2 * served.admitted);
      assert.equal(
        twice.byStatusClass!['2xx']!.percentiles['99'],
        r.byStatusClass!['2xx']!.percentiles['99'],
      );
    });
  });

  test('merges the classes of two worker threads exactly', async () => {
    const served: Served = { admitted: 0, limited: 0, shed: 0, frozen: 0 };
    await withServer(served, async (url) => {
      const r = await load({
        url,
        mix: MIX,
        requests: 200,
        connections: 8,
        timeoutMs: 300,
        workers: 2,
      });
      assert.equal(r.workers, 2);
      checkClasses(r, served);
    });
  });

  test('judges {status=...} thresholds on that class alone', async () => {
    const served: Served = { admitted: 0, limited: 0, shed: 0, frozen: 0 };
    await withServer(served, async (url) => {
      const r = await load({ url, mix: MIX, requests: 120, connections: 6, timeoutMs: 300 });
      const outcomes = checkThresholds(
        r,
        [
          `min{status=2xx}>=${ADMIT_FLOOR_MS}ms`,
          'p99{status=2xx}<1ms',
          'rps{status=4xx}>0',
          'p99{status=3xx}<1s',
        ].map(parseThreshold),
      );
      assert.deepEqual(
        outcomes.map((o) => [o.threshold.text, o.isPassed]),
        [
          [`min{status=2xx}>=${ADMIT_FLOOR_MS}ms`, true],
          ['p99{status=2xx}<1ms', false],
          ['rps{status=4xx}>0', true],
          ['p99{status=3xx}<1s', false],
        ],
      );
      assert.equal(outcomes[2]!.actual, (served.limited * 1000) / r.durationMs);
      assert.match(outcomes[3]!.message, /^p99\{status=3xx\} < 1\.00 s: no responses BREACHED$/);
      assert.match(outcomes[1]!.message, /^p99\{status=2xx\} < /);
    });
  });

  test('shows one latency row per class in the text table and the HTML report', async () => {
    const served: Served = { admitted: 0, limited: 0, shed: 0, frozen: 0 };
    await withServer(served, async (url) => {
      const r = await load({ url, mix: MIX, requests: 60, connections: 4, timeoutMs: 300 });
      const text = formatResult(r);
      const html = renderHtmlReport(r);
      for (const cls of ['2xx', '4xx', '5xx']) {
        assert.match(text, new RegExp(`^${cls} responses `, 'm'), cls);
        assert.match(html, new RegExp(`<tr><td>${cls} responses</td>`), cls);
      }
    });
  });
});

describe('thresholds by status class', () => {
  test('parses {status=2xx} on latencies and rps', () => {
    assert.deepEqual(parseThreshold('p99{status=2xx}<100ms'), {
      text: 'p99{status=2xx}<100ms',
      metric: 'p99',
      op: '<',
      value: 100_000,
      isShare: false,
      statusClass: '2xx',
    });
    assert.equal(parseThreshold('rps{ status = 2XX }>=500').statusClass, '2xx');
  });

  test('rejects a class that is not 1xx to 5xx, and metrics a class does not have', () => {
    for (const bad of [
      'p99{status=200}<1ms',
      'p99{status=6xx}<1ms',
      'p99{status=}<1ms',
      'errors{status=5xx}<1%',
      'non2xx{status=4xx}<10',
      'checks_failed{status=2xx}<1%',
    ])
      assert.throws(() => parseThreshold(bad), InvalidOptionError, bad);
  });

  test('a result written before classes existed breaches with a reason', () => {
    const r = { statuses: {}, durationMs: 1000 } as unknown as LoadResult;
    const [o] = checkThresholds(r, [parseThreshold('p99{status=2xx}<1s')]);
    assert.equal(o!.isPassed, false);
    assert.match(o!.message, /no latency by status class/);
  });
});
