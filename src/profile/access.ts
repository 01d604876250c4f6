import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';

/** Who may call the profiling endpoints. */
export interface AccessOptions {
  /**
   * Bearer token callers must send as `Authorization: Bearer <token>`. Compared in constant
   * time. Required when {@link AccessOptions.allowRemote} is true.
   */
  token?: string;
  /**
   * Accept requests from non-loopback addresses (with the token). Off by default: without it,
   * only 127.0.0.0/8 and ::1 are served, and requests that carry proxy headers are refused
   * because a local reverse proxy would make public traffic look local.
   * @defaultValue false
   */
  allowRemote?: boolean;
}

/** The outcome of an access check: allowed, or the status and JSON error to answer with. */
export type AccessDecision =
  { allowed: true } | { allowed: false; status: 401 | 403; code: string; message: string };

const PROXY_HEADERS = ['forwarded', 'x-forwarded-for', 'x-real-ip', 'x-forwarded-host'];

/** True for 127.0.0.0/8, ::1 and IPv4-mapped loopback. */
export function isLoopback(address: string | undefined): boolean {
  if (address === undefined || isIP(address) === 0) return false;
  if (address === '::1') return true;
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  return isIP(v4) === 4 && v4.startsWith('127.');
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/**
 * Compares a presented token with the expected one in constant time. Both are hashed first so
 * the comparison takes the same time whatever their lengths.
 */
export function tokensEqual(presented: string, expected: string): boolean {
  return timingSafeEqual(digest(presented), digest(expected));
}

/**
 * Decides whether a request may use the endpoints. Uses the socket's address, never a
 * client-supplied header.
 */
export function checkAccess(req: IncomingMessage, options: AccessOptions): AccessDecision {
  const local = isLoopback(req.socket.remoteAddress);
  const proxied = PROXY_HEADERS.some((h) => req.headers[h] !== undefined);
  if (options.token !== undefined) {
    const header = req.headers.authorization ?? '';
    const match = /^Bearer\s+(.+)$/i.exec(header);
    if (match === null || !tokensEqual(match[1]!.trim(), options.token)) {
      return {
        allowed: false,
        status: 401,
        code: 'HP_ERR_PROFILE_UNAUTHORIZED',
        message: 'the profiling endpoints need "Authorization: Bearer <token>"',
      };
    }
    if (!local && options.allowRemote !== true) {
      return {
        allowed: false,
        status: 403,
        code: 'HP_ERR_PROFILE_FORBIDDEN',
        message: 'the profiling endpoints answer loopback clients only',
      };
    }
    return { allowed: true };
  }
  if (!local || proxied) {
    return {
      allowed: false,
      status: 403,
      code: 'HP_ERR_PROFILE_FORBIDDEN',
      message: proxied
        ? 'the profiling endpoints refuse proxied requests unless a token is configured'
        : 'the profiling endpoints answer loopback clients only',
    };
  }
  return { allowed: true };
}
