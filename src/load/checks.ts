/**
 * Response checks of a request mix: per entry, the statuses that pass and simple JSON paths
 * with the values they must hold. A response that fails one check counts as a failed check,
 * apart from transport errors. Only entries with a JSON check need their bodies: the others
 * are judged on the status alone and their bodies are never copied or parsed.
 *
 *   { "status": [200, 201], "json": { "$.status": "authorized", "$.items[0].id": 7 } }
 */
import { isDeepStrictEqual } from 'node:util';
import { InvalidOptionError } from '../errors/index.js';
import type { ResponseCheck } from './request-mix.js';

/** The failure reason a status mismatch is counted under. */
export const STATUS_CHECK = 'status';

type Segment = string | number;

/** One entry's checks, ready to run. */
export interface CompiledCheck {
  /** Whether the body must be captured (a JSON check exists). */
  needsBody: boolean;
  /**
   * Judges one response; returns null when every check passes, else the first failed check's
   * name (`status` or the JSON path as written).
   */
  run(status: number, body: Buffer | null): string | null;
}

/**
 * Parses `$`, `$.a.b`, `$.items[0]`, `$["odd key"]` into segments.
 * @throws {@link InvalidOptionError} `HP_ERR_INVALID_OPTION` on anything else.
 */
export function parseJsonPath(path: string, where: string): Segment[] {
  if (!path.startsWith('$'))
    throw new InvalidOptionError('requests', `${where}: JSON path must start with "$": ${path}`);
  const segments: Segment[] = [];
  const re = /\.([A-Za-z_$][\w$-]*)|\[(\d+)\]|\["((?:[^"\\]|\\.)*)"\]/y;
  let pos = 1;
  while (pos < path.length) {
    re.lastIndex = pos;
    const m = re.exec(path);
    if (m === null)
      throw new InvalidOptionError(
        'requests',
        `${where}: unsupported JSON path ${JSON.stringify(path)} (use $.a.b, $.a[0], $["a b"])`,
      );
    if (m[1] !== undefined) segments.push(m[1]);
    else if (m[2] !== undefined) segments.push(Number(m[2]));
    else segments.push(JSON.parse(`"${m[3]!}"`) as string);
    pos = re.lastIndex;
  }
  return segments;
}

/** Checks a `check` object's shape; throws {@link InvalidOptionError} naming the fault. */
export function validateCheck(check: unknown, where: string): ResponseCheck {
  const fail = (msg: string): never => {
    throw new InvalidOptionError('requests', `${where}: ${msg}`);
  };
  if (typeof check !== 'object' || check === null || Array.isArray(check))
    fail('must be an object with "status" and/or "json"');
  const c = check as Record<string, unknown>;
  for (const key of Object.keys(c))
    if (key !== 'status' && key !== 'json') fail(`unknown key "${key}" (use status, json)`);
  if (c.status !== undefined) {
    const list = Array.isArray(c.status) ? c.status : [c.status];
    if (list.length === 0 || !list.every((s) => Number.isInteger(s) && s >= 100 && s <= 999))
      fail('status must be an HTTP status or a non-empty array of them');
  }
  if (c.json !== undefined) {
    if (typeof c.json !== 'object' || c.json === null || Array.isArray(c.json))
      fail('json must be an object of "$.path": expected value');
    for (const path of Object.keys(c.json as object)) parseJsonPath(path, `${where}.json`);
  }
  return c as ResponseCheck;
}

function at(value: unknown, segments: readonly Segment[]): unknown {
  let v = value;
  for (const s of segments) {
    if (v === null || typeof v !== 'object') return undefined;
    if (typeof s === 'number') {
      if (!Array.isArray(v)) return undefined;
      v = v[s];
    } else {
      if (Array.isArray(v) || !Object.hasOwn(v, s)) return undefined;
      v = (v as Record<string, unknown>)[s];
    }
  }
  return v;
}

/** Compiles one entry's `check`; null when it has none. */
export function compileCheck(
  check: ResponseCheck | undefined,
  where: string,
): CompiledCheck | null {
  if (check === undefined) return null;
  validateCheck(check, where);
  const statuses =
    check.status === undefined
      ? null
      : new Set(Array.isArray(check.status) ? check.status : [check.status]);
  const json = Object.entries(check.json ?? {}).map(([path, expected]) => ({
    path,
    segments: parseJsonPath(path, `${where}.json`),
    expected,
  }));
  if (statuses === null && json.length === 0) return null;
  return {
    needsBody: json.length > 0,
    run(status, body) {
      if (statuses !== null && !statuses.has(status)) return STATUS_CHECK;
      if (json.length === 0) return null;
      let parsed: unknown;
      try {
        parsed = JSON.parse(body === null ? '' : body.toString('utf8'));
      } catch {
        // Not JSON at all: every JSON check fails; the first one is named.
        return json[0]!.path;
      }
      for (const j of json)
        if (!isDeepStrictEqual(at(parsed, j.segments), j.expected)) return j.path;
      return null;
    },
  };
}
