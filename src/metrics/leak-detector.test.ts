import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, test } from 'node:test';
import { LeakDetector, type LeakEvidence } from './index.js';

const root = resolve(import.meta.dirname, '../..');

/**
 * A child process that keeps (`leak`) or periodically drops (`sawtooth`) about 0.5 MB every
 * 25 ms, forcing a full GC each time so the detector samples it, and prints one JSON line:
 * the leak evidence, or `{ "leak": false }` after 200 rounds.
 */
function childProgram(mode: 'leak' | 'sawtooth'): string {
  return `
    import { LeakDetector } from 'hotpath/metrics';
    const detector = new LeakDetector({
      windowMs: 3000, minSpanMs: 1500, minSamples: 20, minIntervalMs: 0, thresholdMbPerMinute: 50,
    });
    detector.on('leak', (e) => {
      console.log(JSON.stringify({ leak: true, slope: e.slopeMbPerMinute, r2: e.r2, samples: e.samples.length }));
      process.exit(0);
    });
    let kept = [];
    let round = 0;
    setInterval(() => {
      ${mode === 'sawtooth' ? 'if (round % 10 === 0) kept = [];' : ''}
      for (let i = 0; i < 2000; i++) kept.push({ i, s: 'x'.repeat(200) + i });
      globalThis.gc();
      if (++round === 200) {
        console.log(JSON.stringify({ leak: false, status: detector.status() }));
        process.exit(0);
      }
    }, 25);
  `;
}

async function runChild(mode: 'leak' | 'sawtooth'): Promise<Record<string, unknown>> {
  const child = spawn(
    process.execPath,
    [
      '--conditions=source',
      '--import',
      'tsx',
      '--expose-gc',
      '--input-type=module',
      '-e',
      childProgram(mode),
    ],
    { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const code = await new Promise<number | null>((done) => child.on('close', done));
  assert.equal(code, 0, err);
  return JSON.parse(out.trim().split('\n').at(-1)!) as Record<string, unknown>;
}

describe('LeakDetector in a child process', () => {
  test('flags a real leak with its growth rate', async () => {
    const result = await runChild('leak');
    assert.equal(result.leak, true, JSON.stringify(result));
    assert.ok((result.slope as number) > 50);
    assert.ok((result.r2 as number) >= 0.8);
  });

  test('stays quiet on a steady sawtooth', async () => {
    const result = await runChild('sawtooth');
    assert.equal(result.leak, false, JSON.stringify(result));
  });
});

describe('LeakDetector', () => {
  const options = {
    observeGc: false,
    windowMs: 60_000,
    minSamples: 5,
    minSpanMs: 10_000,
    minIntervalMs: 0,
    thresholdMbPerMinute: 1,
  };

  test('emits leak once for a sustained rise, then recovered when it flattens', () => {
    const detector = new LeakDetector(options);
    const events: string[] = [];
    let evidence: LeakEvidence | undefined;
    detector.on('leak', (e) => {
      events.push('leak');
      evidence = e;
    });
    detector.on('recovered', () => events.push('recovered'));
    const MB = 1024 * 1024;
    // 3 MB per minute for a minute, a 5 s sample.
    for (let t = 0; t <= 60_000; t += 5000) detector.sample(100 * MB + (t / 60_000) * 3 * MB, t);
    assert.deepEqual(events, ['leak']);
    assert.ok(Math.abs(evidence!.slopeMbPerMinute - 3) < 0.01);
    assert.ok(evidence!.r2 > 0.99);
    const grown = evidence!.lastBytes - evidence!.firstBytes;
    assert.ok(Math.abs(grown - (evidence!.spanMs / 60_000) * 3 * MB) < 1);
    for (let t = 65_000; t <= 180_000; t += 5000) detector.sample(103 * MB, t);
    assert.deepEqual(events, ['leak', 'recovered']);
    assert.equal(detector.status().suspected, false);
  });

  test('a steep sawtooth does not fit a line and stays quiet', () => {
    // The span judged must cover several teeth (20 s each here).
    const detector = new LeakDetector({ ...options, minSpanMs: 60_000, windowMs: 120_000 });
    let leaks = 0;
    detector.on('leak', () => leaks++);
    const MB = 1024 * 1024;
    for (let t = 0; t <= 600_000; t += 1000)
      detector.sample(100 * MB + ((t / 1000) % 20) * 2 * MB, t);
    assert.equal(leaks, 0);
    assert.ok(detector.status().r2 < 0.8);
  });

  test('options are checked', () => {
    assert.throws(() => new LeakDetector({ minR2: 2 }), { option: 'minR2' });
    assert.throws(() => new LeakDetector({ windowMs: 1000, minSpanMs: 5000 }), {
      option: 'minSpanMs',
    });
  });
});
