/**
 * How `hotpath load` turns errors into exit codes and lines: on the error's `code` (and an
 * InvalidOptionError's `reason`), never on its message text. Runs the command in-process and
 * reads what it writes to stderr.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, mock, test } from 'node:test';
import { InvalidOptionError } from 'hotpath/errors';
import { load, parseDuration, parseThreshold } from 'hotpath/load';
import { run } from '../../cli/commands/load.js';

/** Runs `hotpath load <argv>` in this process: its exit code and what it wrote to stderr. */
async function hotpathLoad(argv: string[]): Promise<{ code: number; stderr: string }> {
  let stderr = '';
  const write = mock.method(process.stderr, 'write', (chunk: string | Uint8Array) => {
    stderr += chunk.toString();
    return true;
  });
  const stdout = mock.method(process.stdout, 'write', () => true);
  try {
    const code = await run(argv);
    return { code, stderr };
  } finally {
    write.mock.restore();
    stdout.mock.restore();
  }
}

/** The reason the library gives for a bad value, through the error it throws. */
function reasonFor(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof InvalidOptionError);
    assert.equal(error.code, 'HP_ERR_INVALID_OPTION');
    return error.reason;
  }
  assert.fail('expected an InvalidOptionError');
}

describe('hotpath load decides on error codes', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hotpath-cli-codes-'));
  const server = createServer((req, res) => {
    req.resume();
    res.end('ok');
  });
  let url = '';

  before(async () => {
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    url = `http://127.0.0.1:${(server.address() as { port: number }).port}/`;
  });
  after(() => {
    server.closeAllConnections();
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('a bad duration prints the flag and the reason of HP_ERR_INVALID_OPTION, exit 2', async () => {
    const reason = reasonFor(() => parseDuration('-d', '10parsecs'));
    const out = await hotpathLoad([url, '-d', '10parsecs']);
    assert.equal(out.code, 2);
    assert.equal(out.stderr, `hotpath load: -d: ${reason}\n`);
  });

  test('a bad threshold prints --threshold and the reason, exit 2', async () => {
    const reason = reasonFor(() => parseThreshold('p99<250'));
    const out = await hotpathLoad([url, '--threshold', 'p99<250']);
    assert.equal(out.code, 2);
    assert.equal(out.stderr, `hotpath load: --threshold: ${reason}\n`);
  });

  test('a request mix that is not JSON prints --requests and the reason, exit 2', async () => {
    const file = join(dir, 'mix.json');
    writeFileSync(file, '{ not json');
    const out = await hotpathLoad([url, '--requests', file]);
    assert.equal(out.code, 2);
    assert.equal(out.stderr, `hotpath load: --requests: ${file} is not valid JSON\n`);
  });

  test('HP_ERR_INVALID_OPTION from the run itself (options checked before traffic) exits 2', async () => {
    const out = await hotpathLoad([url, '-w', '4', '-c', '2', '-n', '10']);
    assert.equal(out.code, 2);
    assert.match(out.stderr, /^hotpath load: invalid option "connections": .*\n$/);
  });

  test('merge: HP_ERR_LOAD_MERGE_MISMATCH prints its code, exit 2', async () => {
    const result = await load({ url, requests: 20, connections: 2 });
    const a = join(dir, 'a.json');
    const b = join(dir, 'b.json');
    writeFileSync(a, JSON.stringify(result));
    writeFileSync(b, JSON.stringify({ ...result, latencyUnit: 'ms' }));
    const out = await hotpathLoad(['merge', a, b]);
    assert.equal(out.code, 2);
    assert.match(
      out.stderr,
      /^hotpath load: merge: HP_ERR_LOAD_MERGE_MISMATCH: cannot merge result 1: latencies in ms/,
    );
  });

  test('merge: a file that is not a result prints the reason of HP_ERR_INVALID_OPTION, exit 2', async () => {
    const result = await load({ url, requests: 20, connections: 2 });
    const a = join(dir, 'good.json');
    const b = join(dir, 'other.json');
    writeFileSync(a, JSON.stringify(result));
    writeFileSync(b, JSON.stringify({ hello: 'world' }));
    const out = await hotpathLoad(['merge', a, b]);
    assert.equal(out.code, 2);
    assert.equal(out.stderr, 'hotpath load: merge: not a hotpath load result (v1)\n');
  });
});
