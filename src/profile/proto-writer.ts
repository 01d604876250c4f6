/**
 * A growable buffer of protobuf wire-format bytes: varints and length-delimited fields, the
 * little that pprof's `profile.proto` needs. Written by hand (not with pprof-format's
 * `Profile.encode`) so that tables can be encoded piece by piece while a profile runs and the
 * final encode is a concatenation: bench/profile/overhead.bench.ts measures both encoders on
 * the same profile.
 * @internal
 */
export class ProtoWriter {
  #bytes: Uint8Array;
  #length = 0;

  constructor(initialBytes = 256) {
    this.#bytes = new Uint8Array(initialBytes);
  }

  /** Bytes written so far. */
  get length(): number {
    return this.#length;
  }

  /** The bytes written so far (a view, valid until the next write). */
  bytes(): Uint8Array {
    return this.#bytes.subarray(0, this.#length);
  }

  #reserve(extra: number): void {
    const need = this.#length + extra;
    if (need <= this.#bytes.length) return;
    let size = this.#bytes.length * 2;
    while (size < need) size *= 2;
    const grown = new Uint8Array(size);
    grown.set(this.#bytes.subarray(0, this.#length));
    this.#bytes = grown;
  }

  /** Writes a non-negative integer (at most 2^53 - 1) as a varint. */
  varint(value: number): this {
    this.#reserve(8);
    const bytes = this.#bytes;
    let at = this.#length;
    let v = value;
    while (v >= 0x80) {
      bytes[at++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    bytes[at++] = v;
    this.#length = at;
    return this;
  }

  /** Writes a non-negative 64-bit integer as a varint. */
  varint64(value: bigint): this {
    this.#reserve(10);
    let v = value;
    while (v >= 0x80n) {
      this.#bytes[this.#length++] = Number(v & 0x7fn) | 0x80;
      v >>= 7n;
    }
    this.#bytes[this.#length++] = Number(v);
    return this;
  }

  /** Writes a field key: field number and wire type (0 varint, 2 length-delimited). */
  key(field: number, wireType: 0 | 2): this {
    return this.varint(field * 8 + wireType);
  }

  /** Writes a varint field. */
  uint(field: number, value: number): this {
    return this.key(field, 0).varint(value);
  }

  /** Writes raw bytes, without a key or length. */
  raw(bytes: Uint8Array): this {
    this.#reserve(bytes.length);
    this.#bytes.set(bytes, this.#length);
    this.#length += bytes.length;
    return this;
  }

  /** Writes a length-delimited field holding `bytes`. */
  field(field: number, bytes: Uint8Array): this {
    return this.key(field, 2).varint(bytes.length).raw(bytes);
  }

  /** Writes a string field (UTF-8). */
  string(field: number, value: string): this {
    return this.field(field, encoder.encode(value));
  }
}

const encoder = new TextEncoder();

/** The number of bytes `value` takes as a varint. @internal */
export function varintSize(value: number): number {
  let size = 1;
  for (let v = value; v >= 0x80; v = Math.floor(v / 0x80)) size++;
  return size;
}
