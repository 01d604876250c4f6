/**
 * The L2 record format. One Redis string per key:
 *
 *   <version>|<freshUntil>|<staleUntil>|<flags>|<tagsLength>|<tags JSON><payload>
 *
 * `version` comes first so the Lua scripts in redis-tier.ts can compare versions with one
 * `string.match`. Times are wall-clock milliseconds. Flags: `n` a cached "not found",
 * `d` a tombstone left by delete so that an older concurrent write cannot resurrect the key.
 */
export interface Envelope {
  /** Hybrid-logical version: wall-clock ms × 1000 plus a counter (see Versions). */
  version: number;
  freshUntil: number;
  staleUntil: number;
  negative: boolean;
  deleted: boolean;
  tags: readonly string[] | undefined;
  /** The serialized value ('' for negative entries and tombstones). */
  payload: string;
}

export function encodeEnvelope(e: Envelope): string {
  const flags = e.deleted ? 'd' : e.negative ? 'n' : '';
  const tags = e.tags === undefined || e.tags.length === 0 ? '' : JSON.stringify(e.tags);
  return `${e.version}|${e.freshUntil}|${e.staleUntil}|${flags}|${tags.length}|${tags}${e.payload}`;
}

/** Parses a record; returns undefined for text that is not an envelope. */
export function decodeEnvelope(text: string): Envelope | undefined {
  const a = text.indexOf('|');
  const b = text.indexOf('|', a + 1);
  const c = text.indexOf('|', b + 1);
  const d = text.indexOf('|', c + 1);
  const e = text.indexOf('|', d + 1);
  if (a < 0 || b < 0 || c < 0 || d < 0 || e < 0) return undefined;
  const version = Number(text.slice(0, a));
  const freshUntil = Number(text.slice(a + 1, b));
  const staleUntil = Number(text.slice(b + 1, c));
  const flags = text.slice(c + 1, d);
  const tagsLength = Number(text.slice(d + 1, e));
  if (!Number.isFinite(version) || !Number.isFinite(freshUntil) || !Number.isFinite(tagsLength))
    return undefined;
  const tagsEnd = e + 1 + tagsLength;
  return {
    version,
    freshUntil,
    staleUntil,
    negative: flags === 'n',
    deleted: flags === 'd',
    tags: tagsLength > 0 ? (JSON.parse(text.slice(e + 1, tagsEnd)) as string[]) : undefined,
    payload: text.slice(tagsEnd),
  };
}
