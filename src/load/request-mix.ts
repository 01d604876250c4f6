/**
 * Request mixes: a weighted list of request templates, each rendered to wire bytes per
 * request. Templates hold placeholders between double braces:
 *
 *   {{int 1 1000}}       a random integer in [1, 1000]
 *   {{seq}} {{seq 500}}  a sequence number shared by the whole run (from 0, or from 500)
 *   {{uuid}}             a random version-4 UUID (e.g. an Idempotency-Key)
 *   {{pick EUR USD GBP}} one of the listed words, uniformly
 *
 * In a JSON `body` given as an object, a string that is exactly one `int` or `seq`
 * placeholder renders as a bare number, so `"user_id": "{{int 1 1000}}"` sends an integer.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { InvalidOptionError } from '../errors/index.js';
import { seededRandom } from '../internal/random.js';
import { validateCheck } from './checks.js';

/** One entry of a request mix file. */
export interface MixEntry {
  /** Relative weight; @defaultValue 1 */
  weight?: number;
  /** HTTP method; @defaultValue "GET" */
  method?: string;
  /** Path and query, may hold placeholders. */
  path: string;
  /** Extra headers; values may hold placeholders. */
  headers?: Record<string, string>;
  /** Body: a string (may hold placeholders) or a JSON value (sent as JSON). */
  body?: unknown;
  /**
   * Name the results break down by (statistics, thresholds); entries may share one.
   * @defaultValue `METHOD path`, the path as written in the template
   */
  name?: string;
  /** What a response must satisfy to pass its checks (see {@link ResponseCheck}). */
  check?: ResponseCheck;
}

/**
 * Checks of every response to one mix entry. A response that fails one counts as a failed
 * check (apart from transport errors). Only entries with a `json` check have their bodies read.
 */
export interface ResponseCheck {
  /** The status, or the statuses, that pass. */
  status?: number | number[];
  /**
   * Simple JSON paths (`$.a.b`, `$.items[0].id`) and the values they must equal (deep
   * equality of JSON values).
   */
  json?: Record<string, unknown>;
}

/** A request mix file: `{ "description"?: "...", "headers"?: {...}, "requests": [ ... ] }`. */
export interface RequestMix {
  /** Free text for the reader; ignored. */
  description?: string;
  /** Headers added to every request. */
  headers?: Record<string, string>;
  requests: MixEntry[];
}

/** A rendered request. */
export interface RenderedRequest {
  bytes: Buffer;
  isHead: boolean;
  /** Index of the mix entry it was rendered from (0 without a mix). */
  entry?: number;
}

/** Produces the next request to send. */
export interface RequestSource {
  next(): RenderedRequest;
}

type Part = string | (() => string);

interface Template {
  parts: Part[];
  /** The rendered string when there are no placeholders. */
  constant: string | null;
}

interface CompiledEntry {
  head: Template;
  body: Template | null;
  isHead: boolean;
  cached: RenderedRequest | null;
  entry: number;
}

/** State shared by the placeholders of one run. */
interface TemplateContext {
  random: () => number;
  seq: number;
}

/** A deterministic PRNG (mulberry32) for reproducible mixes. */
export { seededRandom };

function uuidFrom(random: () => number): string {
  const hex = (n: number) =>
    Array.from({ length: n }, () => Math.floor(random() * 16).toString(16)).join('');
  const variant = (8 + Math.floor(random() * 4)).toString(16);
  return `${hex(8)}-${hex(4)}-4${hex(3)}-${variant}${hex(3)}-${hex(12)}`;
}

function compileTemplate(text: string, ctx: TemplateContext, where: string): Template {
  const parts: Part[] = [];
  const re = /\{\{\s*([a-z]+)((?:\s+[^\s}]+)*)\s*\}\}/g;
  let last = 0;
  for (const m of text.matchAll(re)) {
    if (m.index > last) parts.push(text.slice(last, m.index));
    last = m.index + m[0].length;
    const name = m[1]!;
    const args = m[2]!.trim() === '' ? [] : m[2]!.trim().split(/\s+/);
    parts.push(placeholder(name, args, ctx, `${where}: {{${m[0].slice(2, -2).trim()}}}`));
  }
  if (last < text.length) parts.push(text.slice(last));
  if (/\{\{|\}\}/.test(parts.filter((p) => typeof p === 'string').join(''))) {
    throw new InvalidOptionError('requests', `${where}: unbalanced or malformed placeholder`);
  }
  const isConstant = parts.every((p) => typeof p === 'string');
  return { parts, constant: isConstant ? (parts as string[]).join('') : null };
}

function placeholder(
  name: string,
  args: string[],
  ctx: TemplateContext,
  where: string,
): () => string {
  switch (name) {
    case 'int': {
      const [lo, hi] = args.map(Number);
      if (args.length !== 2 || !Number.isInteger(lo) || !Number.isInteger(hi) || lo! > hi!) {
        throw new InvalidOptionError(
          'requests',
          `${where}: expected {{int MIN MAX}} with integers`,
        );
      }
      const span = hi! - lo! + 1;
      return () => String(lo! + Math.floor(ctx.random() * span));
    }
    case 'seq': {
      const start = args.length === 0 ? 0 : Number(args[0]);
      if (args.length > 1 || !Number.isInteger(start)) {
        throw new InvalidOptionError('requests', `${where}: expected {{seq}} or {{seq START}}`);
      }
      return () => String(start + ctx.seq++);
    }
    case 'uuid':
      if (args.length !== 0)
        throw new InvalidOptionError('requests', `${where}: {{uuid}} takes no argument`);
      return ctx.random === Math.random ? () => randomUUID() : () => uuidFrom(ctx.random);
    case 'pick': {
      if (args.length === 0)
        throw new InvalidOptionError('requests', `${where}: {{pick}} needs values`);
      return () => args[Math.floor(ctx.random() * args.length)]!;
    }
    default:
      throw new InvalidOptionError('requests', `${where}: unknown placeholder "${name}"`);
  }
}

function render(t: Template): string {
  if (t.constant !== null) return t.constant;
  let out = '';
  for (const p of t.parts) out += typeof p === 'string' ? p : p();
  return out;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** Options shared by every request of a run. */
export interface RequestBaseOptions {
  /** Value of the Host header, `host:port`. */
  host: string;
  /** Headers added to every request (a mix entry's own headers win). */
  headers?: Record<string, string>;
  /** Randomness for placeholders; @defaultValue Math.random */
  random?: () => number;
}

/** Checks a parsed mix file's shape; throws {@link InvalidOptionError} naming the fault. */
export function validateMix(value: unknown): RequestMix {
  const fail = (msg: string): never => {
    throw new InvalidOptionError('requests', msg);
  };
  if (typeof value !== 'object' || value === null) fail('expected a JSON object');
  const mix = value as RequestMix;
  if (!Array.isArray(mix.requests) || mix.requests.length === 0)
    fail('"requests" must be a non-empty array');
  mix.requests.forEach((r, i) => {
    if (typeof r !== 'object' || r === null) fail(`requests[${i}] must be an object`);
    if (typeof r.path !== 'string' || !r.path.startsWith('/'))
      fail(`requests[${i}].path must start with "/"`);
    if (
      r.weight !== undefined &&
      !(typeof r.weight === 'number' && r.weight >= 0 && Number.isFinite(r.weight))
    )
      fail(`requests[${i}].weight must be a number >= 0`);
    if (r.method !== undefined && (typeof r.method !== 'string' || !TOKEN.test(r.method)))
      fail(`requests[${i}].method must be an HTTP method`);
    if (r.name !== undefined && (typeof r.name !== 'string' || r.name.trim() === ''))
      fail(`requests[${i}].name must be a non-empty string`);
    if (r.check !== undefined) validateCheck(r.check, `requests[${i}].check`);
  });
  if (mix.requests.every((r) => (r.weight ?? 1) === 0)) fail('every weight is 0');
  return mix;
}

/**
 * The name an entry's results are reported under: its `name`, else `METHOD path` with the
 * path as written in the template (`GET /api/users/{{int 1 1000}}/summary`).
 */
export function requestName(entry: Pick<MixEntry, 'name' | 'method' | 'path'>): string {
  return entry.name ?? `${(entry.method ?? 'GET').toUpperCase()} ${entry.path}`;
}

/** Reads and validates a mix file. */
export function readMixFile(path: string): RequestMix {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new InvalidOptionError('requests', `cannot read ${path}`, { cause: error });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new InvalidOptionError('requests', `${path} is not valid JSON`, { cause: error });
  }
  return validateMix(parsed);
}

/**
 * Builds a {@link RequestSource} that picks mix entries by weight and renders their
 * placeholders. Requests without placeholders are encoded once and reused.
 */
export function createMixSource(mix: RequestMix, base: RequestBaseOptions): RequestSource {
  validateMix(mix);
  const ctx: TemplateContext = { random: base.random ?? Math.random, seq: 0 };
  const compiled: CompiledEntry[] = [];
  const cumulative: number[] = [];
  let total = 0;
  mix.requests.forEach((entry, i) => {
    const where = `requests[${i}]`;
    const method = (entry.method ?? 'GET').toUpperCase();
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries({ ...base.headers, ...mix.headers, ...entry.headers })) {
      if (!TOKEN.test(k))
        throw new InvalidOptionError('requests', `${where}: bad header name ${JSON.stringify(k)}`);
      if (/[\r\n]/.test(String(v)))
        throw new InvalidOptionError('requests', `${where}: header ${k} holds a newline`);
      headers[k.toLowerCase()] = String(v);
    }
    let bodyText: string | null = null;
    if (entry.body !== undefined && entry.body !== null) {
      if (typeof entry.body === 'string') bodyText = entry.body;
      else {
        bodyText = JSON.stringify(entry.body).replace(/"(\{\{\s*(?:int|seq)\b[^}]*\}\})"/g, '$1');
        headers['content-type'] ??= 'application/json';
      }
    }
    let head = `${method} ${entry.path} HTTP/1.1\r\nhost: ${base.host}\r\n`;
    for (const [k, v] of Object.entries(headers))
      if (k !== 'host' && k !== 'content-length') head += `${k}: ${v}\r\n`;
    if (bodyText === null && (method === 'POST' || method === 'PUT' || method === 'PATCH'))
      head += 'content-length: 0\r\n';
    compiled.push({
      head: compileTemplate(head, ctx, where),
      body: bodyText === null ? null : compileTemplate(bodyText, ctx, `${where}.body`),
      isHead: method === 'HEAD',
      cached: null,
      entry: i,
    });
    total += entry.weight ?? 1;
    cumulative.push(total);
  });
  const build = (c: CompiledEntry): RenderedRequest => {
    const head = render(c.head);
    if (c.body === null)
      return { bytes: Buffer.from(head + '\r\n', 'latin1'), isHead: c.isHead, entry: c.entry };
    const body = Buffer.from(render(c.body), 'utf8');
    return {
      bytes: Buffer.concat([
        Buffer.from(`${head}content-length: ${body.length}\r\n\r\n`, 'latin1'),
        body,
      ]),
      isHead: c.isHead,
      entry: c.entry,
    };
  };
  for (const c of compiled)
    if (c.head.constant !== null && (c.body === null || c.body.constant !== null))
      c.cached = build(c);
  if (compiled.length === 1) {
    const only = compiled[0]!;
    return { next: () => only.cached ?? build(only) };
  }
  return {
    next: () => {
      const r = ctx.random() * total;
      let i = 0;
      while (i < cumulative.length - 1 && cumulative[i]! <= r) i++;
      const c = compiled[i]!;
      return c.cached ?? build(c);
    },
  };
}
