/**
 * The L2 record format. One Redis string per key:
 *
 *   <version>|<freshUntil>|<staleUntil>|<flags>|<tagsLength>|<tags JSON><payload>
 *
 * `version` comes first so the Lua scripts in redis-tier.ts can compare versions with one
 * `string.match`. Times are wall-clock milliseconds. Flags: `n` a cached "not found",
 * `d` a tombstone left by delete so that an older concurrent write cannot resurrect the key.
 */
export interface Envelope extends RecordHeader {
  /** The serialized value ('' for negative entries and tombstones). */
  payload: string;
}

export function encodeEnvelope(e: Envelope): string {
  const flags = e.deleted ? 'd' : e.negative ? 'n' : '';
  const tags = e.tags === undefined || e.tags.length === 0 ? '' : JSON.stringify(e.tags);
  // Times are rounded up to whole milliseconds so that readers parse digits only (see
  // readHeader); for an integer clock `now < t` and `now < ceil(t)` agree.
  return `${e.version}|${Math.ceil(e.freshUntil)}|${Math.ceil(e.staleUntil)}|${flags}|${tags.length}|${tags}${e.payload}`;
}

/** The fields of a record before its payload, as {@link readHeader} fills them in. */
export interface RecordHeader {
  /** Hybrid-logical version: wall-clock ms × 1000 plus a counter (see Versions). */
  version: number;
  freshUntil: number;
  staleUntil: number;
  negative: boolean;
  deleted: boolean;
  tags: readonly string[] | undefined;
}

/** A header to fill in, for callers that copy its fields out at once. */
export function newHeader(): RecordHeader {
  return {
    version: 0,
    freshUntil: 0,
    staleUntil: 0,
    negative: false,
    deleted: false,
    tags: undefined,
  };
}

const BAR = 124; // '|'

/**
 * Parses the header of a record into `into` without allocating (no slices, no Envelope
 * object: the L2-hit path reads one record per request, bench/cache/l2-hit.bench.ts) and
 * returns where the payload starts, or -1 for text that is not an envelope. Digits are
 * summed by hand; a field with anything else in it (an older record's fractional time)
 * goes through Number().
 */
export function readHeader(text: string, into: RecordHeader): number {
  let i = 0;
  let field = 0;
  let tagsLength = 0;
  let flag = 0;
  while (field < 5) {
    const start = i;
    let n = 0;
    let digitsOnly = true;
    let c = text.charCodeAt(i);
    while (c !== BAR) {
      if (c !== c) return -1; // NaN: past the end without the bar
      if (c >= 48 && c <= 57) n = n * 10 + (c - 48);
      else digitsOnly = false;
      c = text.charCodeAt(++i);
    }
    if (field === 3) {
      flag = i - start === 1 ? text.charCodeAt(start) : i === start ? 0 : -1;
    } else {
      if (!digitsOnly || i === start) n = Number(text.slice(start, i));
      if (!Number.isFinite(n)) return -1;
      if (field === 0) into.version = n;
      else if (field === 1) into.freshUntil = n;
      else if (field === 2) into.staleUntil = n;
      else tagsLength = n;
    }
    i++;
    field++;
  }
  into.negative = flag === 110; // 'n'
  into.deleted = flag === 100; // 'd'
  if (tagsLength > 0) {
    into.tags = JSON.parse(text.slice(i, i + tagsLength)) as string[];
    return i + tagsLength;
  }
  into.tags = undefined;
  return i;
}

/** Parses a record; returns undefined for text that is not an envelope. */
export function decodeEnvelope(text: string): Envelope | undefined {
  const header = newHeader();
  const start = readHeader(text, header);
  if (start < 0) return undefined;
  return { ...header, payload: text.slice(start) };
}
