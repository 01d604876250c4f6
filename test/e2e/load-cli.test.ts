/**
 * `hotpath load` as a user runs it: exit codes, one-line errors, JSON output and `merge`, the
 * shipped payments request mix, and Ctrl-C printing the results so far.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { LoadResult } from 'hotpath/load';

const root = resolve(import.meta.dirname, '..', '..');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function hotpath(
  args: string[],
  onSpawn?: (kill: (signal: NodeJS.Signals) => void) => void,
): Promise<Run> {
  const child = spawn(
    process.execPath,
    ['--conditions=source', '--import', 'tsx', join(root, 'cli', 'main.ts'), 'load', ...args],
    { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  onSpawn?.((signal) => child.kill(signal));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

describe('hotpath load', () => {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      if (seen.length < 5000)
        seen.push({ method: req.method!, url: req.url!, headers: req.headers, body });
      res.statusCode = req.url === '/missing' ? 404 : req.method === 'POST' ? 201 : 200;
      res.end('{"ok":true}');
    });
  });
  let url = '';
  const dir = mkdtempSync(join(tmpdir(), 'hotpath-load-'));
  before(async () => {
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  after(() => {
    server.closeAllConnections();
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('bad arguments print one line on stderr and exit 2', async () => {
    const cases = [
      ['not a url'],
      [`${url}/`, '--rate', '-5'],
      [`${url}/`, '-d', '10parsecs'],
      [`${url}/`, '--threshold', 'p99<250'],
      [`${url}/`, '--no-such-flag'],
      [],
    ];
    const runs = await Promise.all(cases.map((args) => hotpath(args)));
    for (const [i, run] of runs.entries()) {
      assert.equal(run.code, 2, `${cases[i]!.join(' ')}: ${run.stderr}`);
      assert.equal(run.stderr.trim().split('\n').length, 1, run.stderr);
      assert.match(run.stderr, /^hotpath load: /);
      assert.equal(run.stdout, '');
    }
  });

  test('thresholds exit 0 when they hold and 1 when breached', async () => {
    const ok = await hotpath([
      `${url}/`,
      '-n',
      '300',
      '-c',
      '4',
      '--threshold',
      'p99<10s',
      '--threshold',
      'errors<1%',
    ]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /p99 < 10\.00 s: .* ok/);
    const breached = await hotpath([
      `${url}/missing`,
      '-n',
      '300',
      '-c',
      '4',
      '--threshold',
      'errors<1%',
    ]);
    assert.equal(breached.code, 1, breached.stderr);
    assert.match(breached.stdout, /errors < 1\.00%: 100\.00% BREACHED/);
    assert.match(breached.stdout, /404: 300/);
  });

  test('writes JSON results, and merge adds them up with exact percentiles', async () => {
    const a = join(dir, 'a.json');
    const b = join(dir, 'b.json');
    const html = join(dir, 'b.html');
    // a first: b compares itself with it.
    const ra = await hotpath([`${url}/`, '-n', '400', '-c', '2', '--json', a]);
    const rb = await hotpath([
      `${url}/`,
      '-n',
      '600',
      '-c',
      '2',
      '--json',
      b,
      '--compare',
      a,
      '--html',
      html,
    ]);
    assert.equal(ra.code, 0, ra.stderr);
    assert.equal(rb.code, 0, rb.stderr);
    assert.match(rb.stdout, /compared with .*a\.json/);
    assert.match(rb.stdout, /p99 .*(within noise|better|worse)/);
    const page = readFileSync(html, 'utf8');
    assert.match(page, /<svg[^>]+id="percentile-distribution"/);
    assert.doesNotMatch(page, /<script|https?:\/\/(?!127\.0\.0\.1|www\.w3\.org)/);
    const merged = join(dir, 'merged.json');
    const m = await hotpath(['merge', a, b, '--json', merged, '--threshold', 'rps>0']);
    assert.equal(m.code, 0, m.stderr);
    assert.match(m.stdout, /1000 completed/);
    const result = JSON.parse(readFileSync(merged, 'utf8')) as LoadResult;
    assert.equal(result.completed, 1000);
    assert.equal(result.latency.count, 1000);
    assert.deepEqual(result.statuses, { '200': 1000 });
  });

  test('--compare of two named mixes prints a table for each name and the names of one run only', async () => {
    const base = join(dir, 'named-base.json');
    const baseMix = join(dir, 'named-base-mix.json');
    const currentMix = join(dir, 'named-current-mix.json');
    // The two runs share home and gone; old is only in the base, new only in the current one.
    const mix = (last: string) => ({
      requests: [
        { name: 'home', path: '/' },
        { name: 'gone', path: '/missing' },
        { name: last, path: `/${last}` },
      ],
    });
    writeFileSync(baseMix, JSON.stringify(mix('old')));
    writeFileSync(currentMix, JSON.stringify(mix('new')));
    const ra = await hotpath([url, '--requests', baseMix, '-n', '300', '-c', '2', '--json', base]);
    assert.equal(ra.code, 0, ra.stderr);
    const rb = await hotpath([
      url,
      '--requests',
      currentMix,
      '-n',
      '300',
      '-c',
      '2',
      '--compare',
      base,
    ]);
    assert.equal(rb.code, 0, rb.stderr);
    for (const name of ['home', 'gone']) {
      const table = new RegExp(
        `by name: ${name}\\n(?:.*\\n)*?\\s*p99 .*(within noise|better|worse)`,
      );
      assert.match(rb.stdout, table, `a table for ${name}`);
    }
    assert.doesNotMatch(rb.stdout, /by name: (old|new)\b/);
    assert.match(rb.stdout, /only in .*named-base\.json: old/);
    assert.match(rb.stdout, /only in this run: new/);
  });

  test('drives the shipped payments mix with its templates filled in', async () => {
    seen.length = 0;
    const run = await hotpath([
      url,
      '--requests',
      join(root, 'examples', 'payments-mix.json'),
      '-n',
      '400',
      '-c',
      '4',
    ]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(seen.length, 400);
    const keys = new Set<string>();
    for (const r of seen) {
      if (r.method === 'GET') {
        const m = /^\/api\/users\/(\d+)\/(summary|payments\?limit=(20|100))$/.exec(r.url);
        assert.ok(m, r.url);
        const user = Number(m[1]);
        assert.ok(user >= 1 && user <= 1000, r.url);
      } else {
        assert.equal(r.method, 'POST');
        assert.equal(r.url, '/api/payments');
        assert.equal(r.headers['content-type'], 'application/json');
        const key = r.headers['idempotency-key'] as string;
        assert.match(key, /^[0-9a-f-]{36}$/);
        keys.add(key);
        const body = JSON.parse(r.body) as { user_id: unknown; amount: unknown; currency: unknown };
        assert.ok(Number.isInteger(body.user_id) && (body.user_id as number) >= 1, r.body);
        assert.ok(Number.isInteger(body.amount) && (body.amount as number) > 0, r.body);
        assert.ok(['EUR', 'USD', 'GBP'].includes(body.currency as string), r.body);
      }
    }
    const posts = seen.filter((r) => r.method === 'POST').length;
    // 10% weight: Binomial(400, 0.1) has sd 6; 10..70 is beyond five of them.
    assert.ok(posts > 10 && posts < 70, `posts ${posts}`);
    assert.equal(keys.size, posts, 'every creation carries its own idempotency key');
  });

  test('shows a live progress line on a terminal and none on a pipe', async () => {
    const args = [`${url}/`, '--rate', '100', '-d', '2s'];
    const piped = await hotpath(args);
    assert.equal(piped.code, 0, piped.stderr);
    assert.doesNotMatch(piped.stdout + piped.stderr, /\r/);
    // util-linux `script` runs the command on a pseudo-terminal.
    const command = [
      process.execPath,
      '--conditions=source',
      '--import',
      'tsx',
      join(root, 'cli', 'main.ts'),
      'load',
      ...args,
    ]
      .map((a) => `'${a}'`)
      .join(' ');
    const tty = spawn('script', ['-qec', command, '/dev/null'], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    tty.stdout.on('data', (c: Buffer) => (out += c.toString()));
    const [code] = (await once(tty, 'close')) as [number];
    assert.equal(code, 0, out);
    // Each second rewrites the line: carriage return, erase line (ESC [2K), then the figures.
    assert.match(out, /\r.\[2K +1s +\d+ req\/s +p99 +[\d.]+ (µs|ms) +errors 0/);
    assert.match(out, /open model, 100 req\/s target/);
  });

  test('Ctrl-C prints the results so far and exits 130', async () => {
    seen.length = 0;
    const run = await hotpath([`${url}/`, '-d', '60s', '--rate', '200'], (kill) => {
      const poll = setInterval(() => {
        if (seen.length >= 100) {
          clearInterval(poll);
          kill('SIGINT');
        }
      }, 20);
    });
    assert.equal(run.code, 130, run.stderr);
    assert.match(run.stdout, /interrupted: results so far/);
    const completed = Number(/(\d+) completed/.exec(run.stdout)?.[1]);
    // The server saw 100 requests; all but those in flight at the signal were answered.
    assert.ok(completed >= 50, run.stdout);
  });
});
