import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { InvalidOptionError } from '../errors/index.js';
import { createMixSource, seededRandom, type RequestMix } from './request-mix.js';

function parse(bytes: Buffer): { head: string[]; body: string } {
  const text = bytes.toString('utf8');
  const [head, body] = text.split('\r\n\r\n') as [string, string];
  return { head: head.split('\r\n'), body };
}

describe('request mix templating', () => {
  test('renders int, seq, uuid and pick placeholders in path, headers and JSON body', () => {
    const mix: RequestMix = {
      headers: { 'x-run': 'r{{seq 100}}' },
      requests: [
        {
          method: 'POST',
          path: '/api/users/{{int 1 1000}}/payments',
          headers: { 'Idempotency-Key': '{{uuid}}' },
          body: { user_id: '{{int 5 5}}', currency: '{{pick EUR USD}}', note: 'n{{seq}}' },
        },
      ],
    };
    const source = createMixSource(mix, { host: 'h:1', random: seededRandom(1) });
    const seenIds = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const { head, body } = parse(source.next().bytes);
      assert.match(head[0]!, /^POST \/api\/users\/(\d+)\/payments HTTP\/1\.1$/);
      const user = Number(/users\/(\d+)/.exec(head[0]!)![1]);
      assert.ok(user >= 1 && user <= 1000);
      assert.ok(head.includes('host: h:1'));
      const key = head.find((h) => h.startsWith('idempotency-key: '))!.slice(17);
      assert.match(key, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      seenIds.add(key);
      const json = JSON.parse(body) as { user_id: unknown; currency: string; note: string };
      assert.equal(json.user_id, 5, 'a lone int placeholder renders as a JSON number');
      assert.ok(json.currency === 'EUR' || json.currency === 'USD');
      assert.equal(
        head.find((h) => h.startsWith('content-length: ')),
        `content-length: ${Buffer.byteLength(body)}`,
      );
      assert.ok(head.includes('content-type: application/json'));
    }
    assert.equal(seenIds.size, 200);
  });

  test('seq counts up across requests, from its start', () => {
    const source = createMixSource(
      { requests: [{ path: '/item/{{seq 7}}' }] },
      { host: 'h', random: seededRandom(2) },
    );
    const paths = [0, 1, 2].map(() => parse(source.next().bytes).head[0]);
    assert.deepEqual(paths, [
      'GET /item/7 HTTP/1.1',
      'GET /item/8 HTTP/1.1',
      'GET /item/9 HTTP/1.1',
    ]);
  });

  test('picks entries in proportion to their weights', () => {
    const source = createMixSource(
      {
        requests: [
          { weight: 8, path: '/a' },
          { weight: 2, path: '/b' },
          { weight: 0, path: '/never' },
        ],
      },
      { host: 'h', random: seededRandom(3) },
    );
    const counts: Record<string, number> = {};
    for (let i = 0; i < 10_000; i++) {
      const path = parse(source.next().bytes).head[0]!.split(' ')[1]!;
      counts[path] = (counts[path] ?? 0) + 1;
    }
    assert.equal(counts['/never'], undefined);
    // Binomial(10000, 0.8): sd = 40, so +-200 is five standard deviations.
    assert.ok(Math.abs(counts['/a']! - 8000) < 200, `got ${counts['/a']}`);
  });

  test('reuses the bytes of a request without placeholders', () => {
    const source = createMixSource({ requests: [{ path: '/static' }] }, { host: 'h' });
    assert.equal(source.next().bytes, source.next().bytes);
  });

  test('rejects unknown placeholders, bad ranges and bad entries, naming them', () => {
    const bad: unknown[] = [
      { requests: [{ path: '/x/{{nope}}' }] },
      { requests: [{ path: '/x/{{int 5 1}}' }] },
      { requests: [{ path: 'relative' }] },
      { requests: [] },
      { requests: [{ path: '/x', weight: -1 }] },
      { requests: [{ path: '/x/{{int 1' }] },
    ];
    for (const mix of bad) {
      assert.throws(
        () => createMixSource(mix as RequestMix, { host: 'h' }),
        (e: unknown) => e instanceof InvalidOptionError && e.option === 'requests',
      );
    }
  });
});
