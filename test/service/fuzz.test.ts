/**
 * API fuzzing: random methods, paths (the service's routes with random suffixes, bad
 * percent-encodings), headers and bodies, through inject() on embedded PGlite with the
 * gateway up. Whatever comes in, the answer is never a 5xx, and every non-2xx answer is
 * `{ code: string, message: string }`. fast-check prints the seed and the shrunk request of
 * a failure; replay it with HOTPATH_FUZZ_SEED=<seed>; search longer with HOTPATH_FUZZ_RUNS.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import type { InjectOptions } from 'fastify';
import { startTestService, type TestService } from '../helpers/payments-service.js';

const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS'] as const;

const ROUTE_PREFIXES = [
  '/api/payments',
  '/api/payments/',
  '/api/users/',
  '/api/users/latest-payments',
  '/health/live',
  '/health/ready',
  '/health/',
  '/metrics',
  '/dashboard',
  '/dashboard/assets/',
  '/debug/pprof/',
  '/',
];

/** Text that is awkward in a URL: bad or odd percent-encodings, dot segments, separators. */
const awkward = fc.constantFrom(
  '%ZZ',
  '%',
  '%4',
  '%E0%A4%A',
  '%00',
  '%2F',
  '%2e%2e',
  '%C3%A9',
  '%FF',
  '..',
  '.',
  '//',
  ';',
  '&',
  '=',
  '+',
);

const visible = (max: number) => fc.stringMatching(new RegExp(`^[\\x21-\\x7e]{0,${max}}$`));

const suffix = fc.oneof(
  fc.constant(''),
  fc.uuid().map(String),
  fc.integer().map(String),
  fc.bigInt().map(String),
  fc.constantFrom(
    '1',
    '1/payments',
    '1/summary',
    '0',
    '-1',
    '2147483648',
    '1e3',
    'latest-payments',
  ),
  fc.webSegment(),
  fc.array(fc.oneof(awkward, fc.webSegment()), { maxLength: 4 }).map((parts) => parts.join('')),
  visible(30).map((s) => s.replace(/[?#]/g, '')),
);

const query = fc.oneof(
  fc.constant(''),
  fc.webQueryParameters().map((q) => `?${q}`),
  fc
    .array(fc.oneof(fc.integer({ min: -5, max: 200 }).map(String), awkward, fc.webSegment()), {
      maxLength: 4,
    })
    .map((ids) => `?${ids.map((id) => `ids=${id}`).join('&')}`),
  fc
    .array(fc.integer({ min: 0, max: 120 }), { maxLength: 5 })
    .map((ids) => `?ids=${ids.join(',')}`),
  fc
    .tuple(fc.constantFrom('limit', 'cursor', 'ids'), fc.oneof(awkward, visible(20)))
    .map(([name, value]) => `?${name}=${value}`),
);

/** A route parameter: valid ones, edge values, and junk. */
const param = fc.oneof(
  fc.uuid().map(String),
  fc.integer({ min: 1, max: 50 }).map(String),
  fc.constantFrom('0', '-1', '2147483647', '2147483648', '1e3', '01', ' 1', 'null'),
  fc.webSegment(),
  fc
    .array(fc.oneof(awkward, fc.webSegment()), { minLength: 1, maxLength: 3 })
    .map((p) => p.join('')),
);

/** The service's routes with their parameters filled in. */
const route = fc.oneof(
  param.map((id) => `/api/payments/${id}`),
  param.map((id) => `/api/users/${id}/payments`),
  param.map((id) => `/api/users/${id}/summary`),
  fc.constantFrom('/api/payments', '/api/users/latest-payments', '/health/ready', '/metrics'),
);

const path = fc
  .oneof(
    { weight: 5, arbitrary: route },
    {
      weight: 2,
      arbitrary: fc.tuple(fc.constantFrom(...ROUTE_PREFIXES), suffix).map(([p, s]) => p + s),
    },
    { weight: 1, arbitrary: fc.webPath() },
  )
  .map((p) => (p.startsWith('/') ? p : `/${p}`))
  // The event stream never ends under inject() (it is a stream); the profiles run for
  // seconds. Both are exercised by their own suites.
  .filter(
    (p) => !/^\/dashboard\/events|^\/debug\/pprof\/(profile|heap|snapshot|flamegraph)/.test(p),
  );

const contentType = fc.constantFrom(
  'application/json',
  'application/json; charset=utf-8',
  'application/json; charset=latin1',
  'application/jsonx',
  'text/plain',
  'text/html',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  '',
  'application/json;',
);

const headers = fc
  .record(
    {
      'content-type': fc.oneof(contentType, visible(40)),
      'idempotency-key': fc.oneof(visible(40), fc.uuid().map(String), visible(300)),
      accept: fc.constantFrom('application/json', '*/*', 'text/event-stream', 'text/html'),
      authorization: fc.oneof(
        visible(40),
        visible(20).map((t) => `Bearer ${t}`),
      ),
      random: fc.dictionary(fc.stringMatching(/^x-[a-z0-9-]{1,16}$/), visible(60), { maxKeys: 3 }),
    },
    { requiredKeys: [] },
  )
  .map(({ random, ...named }) => ({ ...random, ...named }) as Record<string, string>);

const amountLike = fc.oneof(
  fc.integer(),
  fc.integer({ min: 1, max: 1_000_000_000 }),
  fc.double(),
  fc.constantFrom(0, -1, 1_000_000_001, Number.MAX_SAFE_INTEGER, 1.5),
  fc.string(),
  fc.constant(null),
  fc.boolean(),
);

const paymentLike = fc
  .record(
    {
      user_id: amountLike,
      amount: amountLike,
      currency: fc.oneof(
        fc.constantFrom('EUR', 'USD', 'JPY', 'eur', 'XXX', 'ZZZ', ''),
        fc.string(),
      ),
      extra: fc.jsonValue(),
    },
    { requiredKeys: [] },
  )
  .map((body) => JSON.stringify(body));

const validPayment = fc
  .record({
    user_id: fc.integer({ min: 1, max: 2_147_483_647 }),
    amount: fc.integer({ min: 1, max: 1_000_000_000 }),
    currency: fc.constantFrom('EUR', 'USD', 'JPY', 'GBP'),
  })
  .map((body) => JSON.stringify(body));

const body = fc.oneof(
  fc.constant(undefined),
  fc.json(),
  fc.string(),
  visible(200),
  paymentLike,
  validPayment,
  fc.constantFrom(
    '{"__proto__":{"x":1}}',
    '{"constructor":{"prototype":{}}}',
    '{',
    '[]',
    'null',
    '""',
  ),
);

const request = fc.record({
  method: fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom('GET', 'POST') },
    fc.constantFrom(...METHODS),
  ),
  url: fc.tuple(path, query).map(([p, q]) => p + q),
  headers,
  payload: body,
});

describe('API fuzzing', () => {
  let svc: TestService;
  before(async () => {
    svc = await startTestService({ kind: 'pglite' });
  });
  after(async () => {
    await svc.close();
  });

  test('no request gets a 5xx, and every error answer is { code, message }', async () => {
    const seed = process.env.HOTPATH_FUZZ_SEED;
    await fc.assert(
      fc.asyncProperty(request, async ({ method, url, headers, payload }) => {
        const options: InjectOptions = { method, url, headers };
        if (payload !== undefined) options.payload = payload;
        const res = await svc.app.inject(options);
        const what = `${method} ${url} -> ${res.statusCode} ${res.body.slice(0, 300)}`;
        assert.ok(res.statusCode < 500, what);
        if (res.statusCode < 400 || method === 'HEAD') return;
        let answer: unknown;
        try {
          answer = JSON.parse(res.body);
        } catch {
          assert.fail(`not JSON: ${what}`);
        }
        assert.equal(typeof (answer as { code?: unknown }).code, 'string', what);
        assert.equal(typeof (answer as { message?: unknown }).message, 'string', what);
      }),
      {
        numRuns: Number(process.env.HOTPATH_FUZZ_RUNS ?? 400),
        ...(seed === undefined ? {} : { seed: Number(seed) }),
      },
    );
  });
});
