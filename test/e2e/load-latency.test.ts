/**
 * The load generator against servers with known latency: a server that stalls for S ms every
 * T ms, and one that never answers in less than 20 ms. The stall server runs in a child
 * process and really blocks its event loop, like a long GC pause or a synchronous hot loop.
 *
 * Expected values in the open model. A request whose intended send time falls inside a stall
 * window waits until the window ends, so its latency (from the intended time) is spread
 * uniformly over (0, S]; a share S/T of all requests are in a window. Outside the windows
 * latency is the ordinary service time (well under a millisecond here). Hence
 *
 *   P(latency > x) = (S - x) / T  for service time < x < S,   so   pQ = S - (1 - Q/100) * T
 *
 * S = 100, T = 1000: p99 = 90 ms, p99.9 = 99 ms.   S = 1000, T = 5000: p99 = 950, p99.9 = 995.
 *
 * Tolerance: -8 ms / +25 ms for the 100 ms stall (-20 / +50 ms for the 1 s stall). Below: the
 * histogram's 1% resolution and the 1 ms timer resolution of the schedule. Above: after each
 * stall the server works through its backlog, which adds a few ms to the requests that waited,
 * and the two shared cores add scheduling noise (measured here under a load average of 8 on
 * 2 cores: the generator's own send lag reached 20-35 ms at times). A generator that waits for each response
 * (coordinated omission) would report p99 near the service time, far outside either band.
 * Each run measures a whole number of periods after a 1 s warm-up, with the stalls placed
 * inside the measured window (the server anchors them to the first request it sees), so the
 * share of stalled requests is exactly S/T.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { after, before, describe, test, type TestContext } from 'node:test';
import { load, type LoadResult } from 'hotpath/load';

// Stalls of stallMs every periodMs, the first one offsetMs after the first request arrives,
// so a run with a warm-up covers a whole number of periods at a known phase.
const STALL_SERVER = `
import { createServer } from 'node:http';
const [stallMs, periodMs, offsetMs] = process.argv.slice(1).map(Number);
let t0 = -1;
const server = createServer((req, res) => {
  if (t0 < 0) {
    t0 = performance.now();
    stallLoop(1);
  }
  req.resume();
  req.on('end', () => res.end('ok'));
});
function stallLoop(k) {
  const start = t0 + offsetMs + (k - 1) * periodMs;
  setTimeout(() => {
    // Block the event loop until exactly stallMs after the stall's scheduled start.
    while (performance.now() < start + stallMs);
    stallLoop(k + 1);
  }, Math.max(0, start - performance.now()));
}
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => process.stdout.write(String(server.address().port) + '\\n'));
`;

async function startStallServer(
  stallMs: number,
  periodMs: number,
  offsetMs: number,
): Promise<{ url: string; child: ChildProcess }> {
  const args = [stallMs, periodMs, offsetMs].map(String);
  const child = spawn(process.execPath, ['--input-type=module', '-e', STALL_SERVER, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const [chunk] = (await once(child.stdout!, 'data')) as [Buffer];
  return { url: `http://127.0.0.1:${chunk.toString().trim()}/`, child };
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = once(child, 'exit');
  child.kill();
  await exited;
}

const ms = (us: number) => us / 1000;

/** Reports measured percentiles in the test output (they are quoted in docs/load.md). */
function report(t: TestContext, label: string, r: LoadResult): void {
  const p = (k: string) => `${ms(r.latency.percentiles[k]!).toFixed(1)} ms`;
  t.diagnostic(
    `${label}: p50 ${p('50')}, p99 ${p('99')}, p99.9 ${p('99.9')}, max ${ms(r.latency.max).toFixed(1)} ms`,
  );
}

/**
 * Runs an open-model test against a fresh stall server until its p99 and p99.9 land in their
 * bands. Only a run the generator itself reports as disturbed (its send lag p99 above 5 ms:
 * another process took the CPU) is retried, at most three times; a clean run outside the band
 * fails at once.
 */
async function openModelAgainstStalls(
  stall: { stallMs: number; periodMs: number; offsetMs: number },
  run: { rate: number; durationMs: number; connections: number },
  expected: { p99: number; p999: number; below: number; above: number },
): Promise<LoadResult> {
  const problems: string[] = [];
  for (let attempt = 1; attempt <= 3; attempt++) {
    const server = await startStallServer(stall.stallMs, stall.periodMs, stall.offsetMs);
    try {
      const result = await load({ url: server.url, warmupMs: 1000, ...run });
      const p99 = ms(result.latency.percentiles['99']!);
      const p999 = ms(result.latency.percentiles['99.9']!);
      const inBand = (v: number, e: number) => v >= e - expected.below && v <= e + expected.above;
      if (inBand(p99, expected.p99) && inBand(p999, expected.p999)) return result;
      problems.push(
        `attempt ${attempt}: p99 ${p99} ms (expected ${expected.p99}), p99.9 ${p999} ms (expected ${expected.p999}), -${expected.below}/+${expected.above} ms; generator send lag p99 ${ms(result.generator.sendLagP99)} ms`,
      );
      if (result.generator.sendLagP99 <= 5000) break;
    } finally {
      await stop(server.child);
    }
  }
  assert.fail(problems.join('\n'));
}

describe('a server that stalls 100 ms every second', () => {
  test('open model: p99 and p99.9 from the intended send time show the stall', async (t) => {
    // Warm-up 1 s, then stalls at 1.5, 2.5 and 3.5 s: three whole periods measured.
    // Expected (any rate): p99 = 100 - 0.01 * 1000 = 90 ms, p99.9 = 100 - 0.001 * 1000 = 99 ms.
    const result = await openModelAgainstStalls(
      { stallMs: 100, periodMs: 1000, offsetMs: 1500 },
      { rate: 500, durationMs: 3000, connections: 300 },
      { p99: 90, p999: 99, below: 8, above: 25 },
    );
    report(t, 'open model, 100 ms stall every 1 s', result);
    assert.equal(result.errors.timeout + result.errors.reset + result.errors.connect, 0);
    assert.ok(result.completed >= 1450, `completed ${result.completed}`);
    assert.equal(result.actualLatency.count, result.latency.count);
  });

  test('closed model: the result is flagged as affected by coordinated omission', async (t) => {
    const server = await startStallServer(100, 1000, 500);
    try {
      const result = await load({ url: server.url, connections: 10, durationMs: 3000 });
      const co = result.coordinatedOmission!;
      report(t, 'closed model, 100 ms stall every 1 s', result);
      t.diagnostic(
        `corrected estimate: p99 ${ms(co.correctedP99).toFixed(1)} ms, p99.9 ${ms(co.correctedP999).toFixed(1)} ms`,
      );
      assert.equal(co.isAffected, true, JSON.stringify(co));
      const measuredP99 = ms(result.latency.percentiles['99']!);
      // Waiting for each response hides the stall from p99 ...
      assert.ok(measuredP99 < 50, `closed-model p99 ${measuredP99} ms`);
      // ... while the back-fill estimate recovers it.
      assert.ok(ms(co.correctedP99) > 50, `corrected p99 ${ms(co.correctedP99)} ms`);
      assert.ok(
        result.generator.warnings.some((w) => w.includes('coordinated omission')),
        result.generator.warnings.join('\n'),
      );
    } finally {
      await stop(server.child);
    }
  });
});

describe('a server that stalls 1 s every 5 s', () => {
  test('open model: p99 and p99.9 match 950 ms and 995 ms', async (t) => {
    // Warm-up 1 s, then a stall at 3 s: one whole period measured.
    // Expected: p99 = 1000 - 0.01 * 5000 = 950 ms, p99.9 = 1000 - 0.001 * 5000 = 995 ms.
    const result = await openModelAgainstStalls(
      { stallMs: 1000, periodMs: 5000, offsetMs: 3000 },
      { rate: 200, durationMs: 5000, connections: 400 },
      { p99: 950, p999: 995, below: 20, above: 50 },
    );
    report(t, 'open model, 1 s stall every 5 s', result);
  });
});

describe('a server that always takes at least 20 ms', () => {
  let server: Server;
  let url: string;
  before(async () => {
    server = createServer((req, res) => {
      const t0 = performance.now();
      req.resume();
      // Timers may fire up to 1 ms early against the high-resolution clock: re-arm until due.
      const answer = () => (performance.now() - t0 >= 20 ? res.end('slow') : setTimeout(answer, 1));
      setTimeout(answer, 20);
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    url = `http://127.0.0.1:${(server.address() as { port: number }).port}/`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  test('the reported median is at least 20 ms in the open model', async (t) => {
    const result = await load({ url, rate: 200, durationMs: 2000, connections: 50 });
    report(t, 'open model, 20 ms floor', result);
    assert.ok(result.completed > 300);
    assert.ok(
      result.latency.percentiles['50']! >= 20_000,
      `p50 ${result.latency.percentiles['50']} µs`,
    );
    assert.ok(result.actualLatency.percentiles['50']! >= 20_000);
    assert.ok(result.latency.min >= 20_000, `min ${result.latency.min} µs`);
  });

  test('the reported median is at least 20 ms in the closed model', async (t) => {
    const result = await load({ url, connections: 10, requests: 200 });
    report(t, 'closed model, 20 ms floor', result);
    assert.equal(result.completed, 200);
    assert.ok(
      result.latency.percentiles['50']! >= 20_000,
      `p50 ${result.latency.percentiles['50']} µs`,
    );
  });
});
