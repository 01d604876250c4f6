import { ApiError } from '../errors.js';
import { UUID_PATTERN } from './uuid7.js';

/**
 * Opaque keyset cursor: base64url of `{"v":1,"id":"<last id>"}`. Clients pass it back as is;
 * its format may change with `v`.
 */
export function encodeCursor(lastId: string): string {
  return Buffer.from(JSON.stringify({ v: 1, id: lastId })).toString('base64url');
}

/** @throws ApiError INVALID_CURSOR when the cursor was not made by {@link encodeCursor}. */
export function decodeCursor(cursor: string): string {
  let parsed: unknown;
  try {
    if (!/^[A-Za-z0-9_-]{1,200}$/.test(cursor)) throw new Error('not base64url');
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw new ApiError(
      'INVALID_CURSOR',
      'cursor is not valid: pass the next_cursor of a previous page',
    );
  }
  const value = parsed as { v?: unknown; id?: unknown };
  if (value?.v !== 1 || typeof value.id !== 'string' || !UUID_PATTERN.test(value.id)) {
    throw new ApiError(
      'INVALID_CURSOR',
      'cursor is not valid: pass the next_cursor of a previous page',
    );
  }
  return value.id;
}

/**
 * Opaque offset cursor (PAGINATION=offset): base64url of `{"v":1,"offset":<rows to skip>}`.
 */
export function encodeOffsetCursor(offset: number): string {
  return Buffer.from(JSON.stringify({ v: 1, offset })).toString('base64url');
}

/** @throws ApiError INVALID_CURSOR when the cursor was not made by {@link encodeOffsetCursor}. */
export function decodeOffsetCursor(cursor: string): number {
  let parsed: unknown;
  try {
    if (!/^[A-Za-z0-9_-]{1,200}$/.test(cursor)) throw new Error('not base64url');
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    parsed = undefined;
  }
  const value = parsed as { v?: unknown; offset?: unknown } | undefined;
  if (
    value?.v !== 1 ||
    typeof value.offset !== 'number' ||
    !Number.isSafeInteger(value.offset) ||
    value.offset < 0
  ) {
    throw new ApiError(
      'INVALID_CURSOR',
      'cursor is not valid: pass the next_cursor of a previous page',
    );
  }
  return value.offset;
}
