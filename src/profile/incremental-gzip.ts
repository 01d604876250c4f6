import { constants, deflateRawSync } from 'node:zlib';

// CRC-32 (IEEE 802.3, as gzip's trailer uses), table-driven. Node 20 has no zlib.crc32
// (added in Node 22.2).
const CRC_TABLE = new Int32Array(256);
for (let n = 0; n < 256; n++) {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  CRC_TABLE[n] = c;
}

/** Continues a CRC-32 (pass the previous result; 0 to start) over `bytes`. @internal */
export function crc32(previous: number, bytes: Uint8Array): number {
  let crc = ~previous;
  for (let i = 0; i < bytes.length; i++) crc = CRC_TABLE[(crc ^ bytes[i]!) & 0xff]! ^ (crc >>> 8);
  return ~crc >>> 0;
}

// ID1 ID2, CM = deflate, no flags, MTIME 0, XFL 0, OS 255 (unknown): RFC 1952.
const HEADER = Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0x00, 0xff]);

/**
 * One gzip member (RFC 1952) compressed piece by piece as the data is produced, so that when
 * the data ends only its last piece is left to compress. Each piece is a separate raw deflate
 * stream ended with a sync flush (byte-aligned, not final), which makes their concatenation a
 * valid deflate stream; the last piece is finished normally, then the CRC-32 and size follow.
 * Pieces do not share a dictionary, so the output is a little larger than one `gzipSync` of
 * the same bytes.
 * @internal
 */
export class IncrementalGzip {
  readonly #level: number;
  readonly #parts: Buffer[] = [HEADER];
  #crc = 0;
  #size = 0;

  constructor(level = 1) {
    this.#level = level;
  }

  /** Uncompressed bytes pushed so far. */
  get size(): number {
    return this.#size;
  }

  /** Compresses the next piece of the data. */
  push(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    this.#parts.push(
      deflateRawSync(bytes, { level: this.#level, finishFlush: constants.Z_SYNC_FLUSH }),
    );
    this.#crc = crc32(this.#crc, bytes);
    this.#size += bytes.length;
  }

  /**
   * The gzip bytes of everything pushed followed by `last`. Does not change the state: it can
   * be called again with another `last`.
   */
  finish(last: Uint8Array): Buffer {
    const tail = deflateRawSync(last, { level: this.#level });
    const trailer = Buffer.alloc(8);
    trailer.writeUInt32LE(crc32(this.#crc, last), 0);
    trailer.writeUInt32LE((this.#size + last.length) % 2 ** 32, 4);
    return Buffer.concat([...this.#parts, tail, trailer]);
  }
}
