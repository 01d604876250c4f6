import { CacheSerializeError } from './errors.js';

/**
 * Turns values into strings for the L2 tier and back. `deserialize(serialize(v))` must give a
 * value equal to `v` for every value the serializer accepts, and `serialize` must throw for
 * the others rather than lose data silently.
 */
export interface Serializer {
  /** Encodes a value; throws {@link CacheSerializeError} for a value it cannot round-trip. */
  serialize(value: unknown): string;
  /** Decodes a string produced by {@link Serializer.serialize}. */
  deserialize(text: string): unknown;
}

// A tagged object stands for a type JSON lacks. The marker key is unlikely in user data, and
// a plain object that happens to use it is escaped as { $hp: 'obj', v: [[k, v], ...] }. Text
// with tags in it starts with EXTENDED (never the first character of JSON), so plain JSON is
// told apart by its first character, without a scan for the marker (about 100 ns for a
// 120-byte payload, a third of the L2-hit path's own cost).
const MARK = '$hp';
const EXTENDED = '~';
const EXTENDED_CODE = 126;
/** Set by the replacer when it writes a tag; read and reset by serialize. */
let tagged = false;

function tag(kind: string, v?: unknown): Record<string, unknown> {
  tagged = true;
  return v === undefined ? { [MARK]: kind } : { [MARK]: kind, v };
}

function replacer(this: Record<string, unknown>, key: string, value: unknown): unknown {
  // JSON.stringify calls toJSON (Date, Buffer) before the replacer: read the raw value instead.
  const raw = this[key];
  switch (typeof raw) {
    case 'bigint':
      return tag('bigint', raw.toString());
    case 'function':
    case 'symbol':
      throw new CacheSerializeError(`cannot serialize a ${typeof raw} (at key "${key}")`);
    case 'undefined':
      // undefined inside an array would become null: keep it exact.
      return key !== '' && Array.isArray(this) ? tag('undef') : value;
    case 'number':
      if (!Number.isFinite(raw)) return tag('num', String(raw));
      return value;
    case 'object': {
      if (raw === null) return null;
      if (raw instanceof Date) return tag('date', raw.getTime());
      if (Buffer.isBuffer(raw)) return tag('buf', raw.toString('base64'));
      if (raw instanceof Uint8Array)
        return tag(
          'u8',
          Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('base64'),
        );
      if (raw instanceof Map) return tag('map', [...raw.entries()]);
      if (raw instanceof Set) return tag('set', [...raw.values()]);
      if (Array.isArray(raw)) return value;
      const proto = Object.getPrototypeOf(raw) as unknown;
      if (proto !== Object.prototype && proto !== null) {
        const name = (raw as object).constructor?.name ?? 'unknown';
        throw new CacheSerializeError(
          `cannot serialize an instance of ${name} (at key "${key}"): pass a custom serializer`,
        );
      }
      if (Object.hasOwn(raw, MARK)) return tag('obj', Object.entries(raw));
      return value;
    }
    default:
      return value;
  }
}

function reviver(_key: string, value: unknown): unknown {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return value;
  const tag = (value as Record<string, unknown>)[MARK];
  if (tag === undefined) return value;
  const v = (value as { v: unknown }).v;
  switch (tag) {
    case 'bigint':
      return BigInt(v as string);
    case 'date':
      return new Date(v as number);
    case 'buf':
      return Buffer.from(v as string, 'base64');
    case 'u8':
      return new Uint8Array(Buffer.from(v as string, 'base64'));
    case 'map':
      return new Map(v as [unknown, unknown][]);
    case 'set':
      return new Set(v as unknown[]);
    case 'num':
      return Number(v);
    case 'undef':
      return undefined;
    case 'obj':
      return Object.fromEntries(v as [string, unknown][]);
    default:
      throw new CacheSerializeError(`unknown tag "${String(tag)}" in an L2 payload`);
  }
}

function restoreArrayHoles(value: unknown, text: string): unknown {
  // JSON.parse's reviver deletes array slots it maps to undefined; put them back.
  if (!text.includes('"undef"')) return value;
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) {
      for (let i = 0; i < node.length; i++) {
        if (!(i in node)) node[i] = undefined;
        else walk(node[i]);
      }
    } else if (
      node !== null &&
      typeof node === 'object' &&
      !(node instanceof Map) &&
      !(node instanceof Set)
    ) {
      for (const child of Object.values(node)) walk(child);
    }
  };
  walk(value);
  return value;
}

/**
 * The default serializer: JSON, extended so that `Date`, `BigInt`, `Buffer`, `Uint8Array`,
 * `Map`, `Set`, `NaN`/`Infinity` and `undefined` array items round-trip exactly. It throws
 * {@link CacheSerializeError} for functions, symbols, cycles and class instances other than
 * those, instead of silently dropping them as `JSON.stringify` would. A value without such
 * types is stored as its plain JSON and parsed without a reviver (the fast path); one with
 * them is stored as `~` followed by JSON with tagged objects.
 */
export const jsonSerializer: Serializer = {
  serialize(value: unknown): string {
    tagged = false;
    try {
      const text = JSON.stringify(value, replacer);
      // A top-level undefined has no JSON form.
      if (text === undefined) return `${EXTENDED}{"${MARK}":"undef"}`;
      return tagged ? EXTENDED + text : text;
    } catch (error) {
      if (error instanceof CacheSerializeError) throw error;
      throw new CacheSerializeError(`cannot serialize the value: ${(error as Error).message}`, {
        cause: error,
      });
    }
  },
  deserialize(text: string): unknown {
    try {
      if (text.charCodeAt(0) !== EXTENDED_CODE) return JSON.parse(text);
      const json = text.slice(1);
      return restoreArrayHoles(JSON.parse(json, reviver), json);
    } catch (error) {
      if (error instanceof CacheSerializeError) throw error;
      throw new CacheSerializeError(`cannot parse an L2 payload: ${(error as Error).message}`, {
        cause: error,
      });
    }
  },
};
