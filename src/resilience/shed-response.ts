import { InvalidOptionError } from '../errors/index.js';
import { checkNumber } from '../internal/validate-options.js';

/** The `code` of the JSON body of every request refused for overload. */
export const OVERLOADED_CODE = 'OVERLOADED';

/** Paths never shed or limited by default: health checks, metrics and profiling. */
export const DEFAULT_EXEMPT_PATHS: readonly string[] = Object.freeze([
  '/health',
  '/healthz',
  '/metrics',
  '/debug/pprof',
]);

/** The 503 answer, built once: body bytes and headers. */
export interface OverloadedResponse {
  body: string;
  headers: Record<string, string>;
}

/** The 503 answer for a request refused because the process or a route is overloaded. */
export function overloadedResponse(
  message: string,
  retryAfterSeconds: number,
  option = 'retryAfterSeconds',
): OverloadedResponse {
  const seconds = checkNumber(option, retryAfterSeconds, { min: 0, integer: true });
  const body = JSON.stringify({ code: OVERLOADED_CODE, message });
  return {
    body,
    headers: {
      'content-type': 'application/json; charset=utf-8',
      'content-length': String(Buffer.byteLength(body)),
      'retry-after': String(seconds),
    },
  };
}

/**
 * A test of a URL path against a list of exempt paths: a path matches an entry equal to it
 * or one of its parent paths (`/health` matches `/health/live`, not `/healthy`).
 * @throws {@link InvalidOptionError} `HP_ERR_INVALID_OPTION` when the list is not strings.
 */
export function pathMatcher(paths: readonly string[], option: string): (path: string) => boolean {
  if (!Array.isArray(paths) || paths.some((p) => typeof p !== 'string' || !p.startsWith('/'))) {
    throw new InvalidOptionError(option, 'expected an array of paths starting with "/"');
  }
  const prefixes = paths.map((p) => (p.length > 1 && p.endsWith('/') ? p.slice(0, -1) : p));
  return (path) => {
    for (const prefix of prefixes) {
      if (prefix === '/') return true;
      if (
        path.startsWith(prefix) &&
        (path.length === prefix.length || path.charCodeAt(prefix.length) === 47) // '/'
      ) {
        return true;
      }
    }
    return false;
  };
}

/** The path of a request URL, without its query. */
export function pathOf(url: string | undefined): string {
  if (url === undefined) return '/';
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}
