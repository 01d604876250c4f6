import { createHash } from 'node:crypto';

/** A query with its literals normalized away, and a short stable id for it. */
export interface Fingerprint {
  /** 16 hex digits of the SHA-1 of {@link Fingerprint.normalized}; stable across processes. */
  id: string;
  /**
   * The query with comments removed, whitespace collapsed, unquoted words lower-cased, string
   * and number literals replaced by `?`, and lists of placeholders (`IN (?, ?)`, `VALUES (?), (?)`)
   * collapsed to one element followed by `...`, and repeated row groups to one.
   */
  normalized: string;
}

const isDigit = (c: number): boolean => c >= 48 && c <= 57;
const isWordChar = (c: number): boolean =>
  (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || isDigit(c) || c === 95 || c >= 128;

/**
 * Normalizes one SQL text: the same statement with different literals gives the same string.
 * A hand-written single-pass scanner (not a regex chain): it runs on every distinct query text
 * once, its result is cached by {@link FingerprintCache}.
 */
export function normalizeSql(sql: string): string {
  let out = '';
  let i = 0;
  const n = sql.length;
  let pendingSpace = false;
  const emit = (token: string): void => {
    if (pendingSpace && out.length > 0) out += ' ';
    pendingSpace = false;
    out += token;
  };
  while (i < n) {
    const c = sql.charCodeAt(i);
    // whitespace
    if (c === 32 || c === 9 || c === 10 || c === 13 || c === 12) {
      pendingSpace = true;
      i++;
      continue;
    }
    // -- line comment
    if (c === 45 && sql.charCodeAt(i + 1) === 45) {
      const end = sql.indexOf('\n', i);
      i = end === -1 ? n : end + 1;
      pendingSpace = true;
      continue;
    }
    // /* block comment */ (PostgreSQL nests them)
    if (c === 47 && sql.charCodeAt(i + 1) === 42) {
      let depth = 1;
      i += 2;
      while (i < n && depth > 0) {
        if (sql.charCodeAt(i) === 47 && sql.charCodeAt(i + 1) === 42) {
          depth++;
          i += 2;
        } else if (sql.charCodeAt(i) === 42 && sql.charCodeAt(i + 1) === 47) {
          depth--;
          i += 2;
        } else i++;
      }
      pendingSpace = true;
      continue;
    }
    // 'string', E'string', B'0101', X'ff' (the prefix letter was emitted as a word: drop it)
    if (c === 39) {
      const escapes = /[eE]$/.test(out) && !isWordChar(out.charCodeAt(out.length - 2));
      if (/[eEbBxXnN]$/.test(out) && !isWordChar(out.charCodeAt(out.length - 2) || 32)) {
        out = out.slice(0, -1);
      }
      i++;
      while (i < n) {
        const d = sql.charCodeAt(i);
        if (escapes && d === 92) i += 2;
        else if (d === 39 && sql.charCodeAt(i + 1) === 39) i += 2;
        else if (d === 39) break;
        else i++;
      }
      i++;
      emit('?');
      continue;
    }
    // "quoted identifier": kept verbatim, case included
    if (c === 34) {
      const start = i;
      i++;
      while (i < n) {
        if (sql.charCodeAt(i) === 34 && sql.charCodeAt(i + 1) === 34) i += 2;
        else if (sql.charCodeAt(i) === 34) break;
        else i++;
      }
      i++;
      emit(sql.slice(start, i));
      continue;
    }
    // $1 parameter, or $tag$ dollar-quoted string $tag$
    if (c === 36) {
      let j = i + 1;
      if (isDigit(sql.charCodeAt(j))) {
        while (j < n && isDigit(sql.charCodeAt(j))) j++;
        emit(sql.slice(i, j));
        i = j;
        continue;
      }
      while (j < n && isWordChar(sql.charCodeAt(j)) && sql.charCodeAt(j) !== 36) j++;
      if (sql.charCodeAt(j) === 36) {
        const tag = sql.slice(i, j + 1);
        const end = sql.indexOf(tag, j + 1);
        i = end === -1 ? n : end + tag.length;
        emit('?');
        continue;
      }
    }
    // number: 42, 4.2, .5, 1e10 (not part of a word such as t1); a sign stays an operator
    if (isDigit(c) || (c === 46 && isDigit(sql.charCodeAt(i + 1)))) {
      let j = i;
      while (j < n) {
        const d = sql.charCodeAt(j);
        if (isDigit(d) || d === 46 || d === 95) j++;
        else if ((d === 101 || d === 69) && /[0-9+-]/.test(sql[j + 1] ?? '')) j += 2;
        else break;
      }
      emit('?');
      i = j;
      continue;
    }
    // word: keyword or unquoted identifier, case-folded as PostgreSQL does
    if (isWordChar(c)) {
      let j = i + 1;
      while (j < n && (isWordChar(sql.charCodeAt(j)) || sql.charCodeAt(j) === 36)) j++;
      emit(sql.slice(i, j).toLowerCase());
      i = j;
      continue;
    }
    // punctuation and operators: no space before , ) ] and after ( [
    const ch = sql[i]!;
    if (ch === ',' || ch === ')' || ch === ']' || ch === ';') pendingSpace = false;
    emit(ch);
    if (ch === '(' || ch === '[') pendingSpace = false;
    else if (ch === ',') pendingSpace = true;
    i++;
  }
  while (out.endsWith(';')) out = out.slice(0, -1).trimEnd();
  return collapseLists(out);
}

// `(?, ?, ?)` and `[?, ?]` and `($1, $2)` -> one element followed by `...`
const placeholderList = /([([])(\?|\$\d+)(?:, (?:\?|\$\d+))+([)\]])/g;
// `VALUES (?, ?), (?, ?)` -> `VALUES (?, ...)`: a repeated group counts once
const repeatedGroup = /(\([^()]*\))(?:, \1)+/g;

function collapseLists(sql: string): string {
  return sql.replace(placeholderList, '$1$2, ...$3').replace(repeatedGroup, '$1');
}

/** Computes the {@link Fingerprint} of one SQL text. Cache it: see {@link FingerprintCache}. */
export function fingerprint(sql: string): Fingerprint {
  const normalized = normalizeSql(sql);
  const id = createHash('sha1').update(normalized).digest('hex').slice(0, 16);
  return { id, normalized };
}

/**
 * Remembers the fingerprint of each distinct SQL text. Applications send a bounded set of query
 * texts (parameters travel apart), so a hit is the common case; when more than `max` texts
 * were seen (literals inlined in SQL), the cache starts over rather than grow.
 */
export class FingerprintCache {
  readonly #max: number;
  #map = new Map<string, Fingerprint>();

  constructor(max = 5000) {
    this.#max = max;
  }

  /** The fingerprint of `sql`, computed on first sight. */
  get(sql: string): Fingerprint {
    let fp = this.#map.get(sql);
    if (fp === undefined) {
      fp = fingerprint(sql);
      if (this.#map.size >= this.#max) this.#map.clear();
      this.#map.set(sql, fp);
    }
    return fp;
  }

  /** Number of texts remembered. */
  get size(): number {
    return this.#map.size;
  }
}
