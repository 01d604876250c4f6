import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import { describe, test } from 'node:test';
import { formatProgress } from './format.js';
import { load, type LoadProgress } from './load.js';
import { ProgressLine } from './progress-line.js';

/** A stand-in for a terminal's stderr that keeps what is written. */
function fakeStream(isTTY: boolean, columns?: number) {
  const writes: string[] = [];
  return {
    writes,
    stream: {
      isTTY,
      ...(columns === undefined ? {} : { columns }),
      write: (text: string) => writes.push(text),
    },
  };
}

const sample: LoadProgress = {
  elapsedSeconds: 12,
  requestsPerSecond: 1998,
  p99: 4210,
  completed: 23_000,
  errors: 3,
  non2xx: 0,
  targetRate: 2000,
  p99SoFar: 5020,
  checksFailed: 7,
};

describe('live progress line', () => {
  test('shows elapsed time, achieved and target rate, p99 of the second and of the run, errors and failed checks', () => {
    assert.equal(
      formatProgress(sample),
      '  12s     1998 req/s  p99   4.21 ms  errors 3  checks failed 7  (target 2000 req/s, run p99 5.02 ms)',
    );
    assert.equal(
      formatProgress({ ...sample, targetRate: null }),
      '  12s     1998 req/s  p99   4.21 ms  errors 3  checks failed 7  (run p99 5.02 ms)',
    );
  });

  test('rewrites one terminal line in place during a run, and erases it at the end', async () => {
    const server = createServer((req, res) => {
      req.resume();
      res.end('ok');
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
      const { writes, stream } = fakeStream(true);
      const line = new ProgressLine(stream);
      const seen: LoadProgress[] = [];
      const result = await load(
        {
          url,
          rate: 100,
          durationMs: 2000,
          // Every response fails its check (the server answers 200).
          mix: { requests: [{ name: 'create', path: '/', check: { status: 201 } }] },
        },
        {
          onProgress: (p) => {
            seen.push(p);
            line.update(p);
          },
        },
      );
      line.clear();
      assert.ok(writes.length >= 3, `${writes.length} writes`);
      const lines = writes.slice(0, -1);
      for (const w of lines) {
        assert.ok(w.startsWith('\r\x1b[2K'), JSON.stringify(w));
        assert.ok(!w.includes('\n'), 'one line, never a new one');
      }
      assert.equal(writes.at(-1), '\r\x1b[2K');
      assert.match(
        lines[0]!.replace('\r\x1b[2K', 'ERASE:'),
        /^ERASE: {3}1s +\d+ req\/s {2}p99 +[\d.]+ (µs|ms) {2}errors 0 {2}checks failed \d+ {2}\(target 100 req\/s, run p99 [\d.]+ (µs|ms)\)$/,
      );
      // The last line counts every failed check of the run.
      const last = lines.at(-1)!;
      assert.match(last, new RegExp(`checks failed ${result.checks!.failed} `));
      assert.equal(seen.at(-1)!.checksFailed, result.checks!.failed);
      assert.equal(result.checks!.failed, result.completed);
      // The run's p99 so far ends as the run's p99.
      assert.equal(seen.at(-1)!.p99SoFar, result.latency.percentiles['99']);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  test('with worker threads, the progress sums failed checks and merges p99 across workers', async () => {
    const server = createServer((req, res) => {
      req.resume();
      res.end('ok');
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
      const seen: LoadProgress[] = [];
      const result = await load(
        {
          url,
          rate: 100,
          durationMs: 2000,
          workers: 2,
          connections: 4,
          mix: { requests: [{ name: 'create', path: '/', check: { status: 201 } }] },
        },
        { onProgress: (p) => seen.push(p) },
      );
      assert.ok(seen.length >= 2);
      // The first second is a whole one; the last may be the run's partial tail.
      assert.equal(seen[0]!.targetRate, 100);
      assert.equal(seen.at(-1)!.checksFailed, result.checks!.failed);
      assert.equal(result.checks!.failed, result.completed);
      assert.equal(seen.at(-1)!.p99SoFar, result.latency.percentiles['99']);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  test('writes nothing to a stream that is not a terminal', () => {
    const { writes, stream } = fakeStream(false);
    const line = new ProgressLine(stream);
    line.update(sample);
    line.clear();
    assert.equal(line.isEnabled, false);
    assert.deepEqual(writes, []);
  });

  test('writes nothing when quiet, even on a terminal', () => {
    const { writes, stream } = fakeStream(true);
    const line = new ProgressLine(stream, { isQuiet: true });
    line.update(sample);
    line.clear();
    assert.deepEqual(writes, []);
  });

  test('cuts the line to the terminal width so that it never wraps', () => {
    const { writes, stream } = fakeStream(true, 40);
    new ProgressLine(stream).update(sample);
    assert.equal(writes[0], `\r\x1b[2K${formatProgress(sample).slice(0, 39)}`);
  });
});
