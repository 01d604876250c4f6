/**
 * An incremental HTTP/1.1 response parser tuned for a load generator: it reads only what the
 * generator needs (status code, body framing, `Connection: close`) and skips every other header
 * and the body bytes without copying them. Responses may arrive pipelined, several per chunk or
 * one split across many chunks.
 */

const CR = 13;
const LF = 10;
const CONTENT_LENGTH = Buffer.from('content-length');
const TRANSFER_ENCODING = Buffer.from('transfer-encoding');
const CONNECTION = Buffer.from('connection');
const CHUNKED = Buffer.from('chunked');
const CLOSE = Buffer.from('close');

const enum State {
  Head,
  Fixed,
  ChunkSize,
  ChunkData,
  ChunkDataEnd,
  Trailers,
  UntilClose,
}

/**
 * Called once per complete response; `body` is its body (framing removed) when
 * {@link ResponseParser.captureBody} is on, else null.
 */
export type ResponseHandler = (
  status: number,
  bytes: number,
  shouldClose: boolean,
  body: Buffer | null,
) => void;

/** A response the parser could not make sense of. */
export class ResponseParseError extends Error {}

/** Parses a stream of HTTP/1.1 responses; feed it socket chunks in order. */
export class ResponseParser {
  #onResponse: ResponseHandler;
  #state = State.Head;
  #head: Buffer | null = null;
  #remaining = 0;
  #status = 0;
  #bytes = 0;
  #close = false;
  // A chunk-size or trailer line split across reads, and the last complete one.
  #sizeLine = '';
  #line = '';
  // Copies of the body's pieces (the socket's read buffer is reused), while captureBody is on.
  #body: Buffer[] = [];
  /** Whether the next response answers a HEAD request (no body whatever the headers say). */
  expectNoBody: () => boolean = () => false;
  /** Hand each body to the handler. Off by default: the generator's hot path copies nothing. */
  captureBody = false;
  /**
   * Asked once per response head when `captureBody` is off: whether to hand this response's
   * body to the handler (a request whose answer is checked).
   */
  shouldCaptureBody: () => boolean = () => false;
  // Whether the current response's body is being kept.
  #capture = false;

  constructor(onResponse: ResponseHandler) {
    this.#onResponse = onResponse;
  }

  /** Whether a response has started but not finished. */
  get isMidResponse(): boolean {
    return this.#state !== State.Head || this.#head !== null;
  }

  /** Call when the socket ends: completes a response framed by connection close. */
  end(): void {
    if (this.#state === State.UntilClose) this.#finish();
  }

  /** Consumes one chunk; throws {@link ResponseParseError} on a malformed response. */
  execute(chunk: Buffer): void {
    let buf = chunk;
    let pos = 0;
    const len = () => buf.length;
    while (pos < len()) {
      switch (this.#state) {
        case State.Head: {
          if (this.#head !== null) {
            buf = Buffer.concat([this.#head, buf.subarray(pos)]);
            pos = 0;
            this.#head = null;
          }
          const end = buf.indexOf('\r\n\r\n', pos, 'latin1');
          if (end === -1) {
            if (buf.length - pos > 64 * 1024)
              throw new ResponseParseError('response head too large');
            this.#head = Buffer.from(buf.subarray(pos));
            return;
          }
          this.#parseHead(buf, pos, end);
          this.#bytes += end + 4 - pos;
          pos = end + 4;
          if (this.#state === State.Head) this.#finish();
          break;
        }
        case State.Fixed: {
          pos = this.#skip(buf, pos, this.#capture);
          if (this.#remaining === 0) {
            this.#state = State.Head;
            this.#finish();
          }
          break;
        }
        case State.ChunkSize: {
          const end = this.#readLine(buf, pos);
          if (end === -1) {
            pos = buf.length;
            break;
          }
          pos = end;
          const line = this.#line;
          const size = parseInt(line, 16);
          if (!(size >= 0)) throw new ResponseParseError(`bad chunk size ${JSON.stringify(line)}`);
          if (size === 0) this.#state = State.Trailers;
          else {
            this.#remaining = size;
            this.#state = State.ChunkData;
          }
          break;
        }
        case State.ChunkData: {
          pos = this.#skip(buf, pos, this.#capture);
          if (this.#remaining === 0) {
            this.#state = State.ChunkDataEnd;
            this.#remaining = 2;
          }
          break;
        }
        case State.ChunkDataEnd: {
          pos = this.#skip(buf, pos);
          if (this.#remaining === 0) this.#state = State.ChunkSize;
          break;
        }
        case State.Trailers: {
          // Lines until an empty one; this.#sizeLine holds a partial line.
          const end = this.#readLine(buf, pos);
          if (end === -1) {
            pos = buf.length;
            break;
          }
          pos = end;
          const line = this.#line;
          if (line === '' || line === '\r') {
            this.#state = State.Head;
            this.#finish();
          }
          break;
        }
        case State.UntilClose: {
          if (this.#capture) this.#body.push(Buffer.from(buf.subarray(pos)));
          this.#bytes += buf.length - pos;
          pos = buf.length;
          break;
        }
      }
    }
  }

  /**
   * Consumes up to `#remaining` body bytes from `pos` (a copy kept when `keep`); returns the
   * position after them.
   */
  #skip(buf: Buffer, pos: number, keep = false): number {
    const take = Math.min(this.#remaining, buf.length - pos);
    if (keep && take > 0) this.#body.push(Buffer.from(buf.subarray(pos, pos + take)));
    this.#remaining -= take;
    this.#bytes += take;
    return pos + take;
  }

  /**
   * Reads a line ending at the next LF into `#line` and returns the position after it, or -1
   * when the line continues in the next read (the part so far is kept).
   */
  #readLine(buf: Buffer, pos: number): number {
    const nl = buf.indexOf(LF, pos);
    if (nl === -1) {
      this.#sizeLine += buf.toString('latin1', pos, buf.length);
      this.#bytes += buf.length - pos;
      return -1;
    }
    this.#line = this.#sizeLine + buf.toString('latin1', pos, nl);
    this.#sizeLine = '';
    this.#bytes += nl + 1 - pos;
    return nl + 1;
  }

  #finish(): void {
    const status = this.#status;
    const bytes = this.#bytes;
    const close = this.#close;
    let body: Buffer | null = null;
    if (this.#capture) {
      body = this.#body.length === 1 ? this.#body[0]! : Buffer.concat(this.#body);
      this.#body = [];
      this.#capture = false;
    }
    this.#state = State.Head;
    this.#bytes = 0;
    this.#status = 0;
    this.#close = false;
    // 1xx informational responses precede the real one: not reported.
    if (status >= 100 && status < 200) return;
    this.#onResponse(status, bytes, close, body);
  }

  #parseHead(buf: Buffer, start: number, end: number): void {
    // "HTTP/1.1 200 OK"
    if (end - start < 12 || buf[start] !== 0x48 || buf[start + 8] !== 0x20) {
      throw new ResponseParseError('malformed status line');
    }
    const status =
      (buf[start + 9]! - 48) * 100 + (buf[start + 10]! - 48) * 10 + buf[start + 11]! - 48;
    if (!(status >= 100 && status <= 999)) throw new ResponseParseError('malformed status code');
    this.#status = status;
    this.#capture = this.captureBody || this.shouldCaptureBody();
    const http10 = buf[start + 7] === 0x30;
    let contentLength = -1;
    let chunked = false;
    let close = http10;
    let line = buf.indexOf(LF, start) + 1;
    while (line > 0 && line < end) {
      let next = buf.indexOf(LF, line);
      if (next === -1 || next > end + 2) next = end + 2;
      const c = buf[line]! | 0x20;
      if (c === 0x63 /* c */ || c === 0x74 /* t */) {
        const colon = buf.indexOf(0x3a, line);
        if (colon !== -1 && colon < next) {
          const nameLen = colon - line;
          let vs = colon + 1;
          while (buf[vs] === 0x20 || buf[vs] === 0x09) vs++;
          let ve = next;
          while (ve > vs && (buf[ve - 1] === CR || buf[ve - 1] === 0x20 || buf[ve - 1] === LF))
            ve--;
          if (nameLen === 14 && equalsLower(buf, line, CONTENT_LENGTH)) {
            contentLength = 0;
            for (let i = vs; i < ve; i++) contentLength = contentLength * 10 + buf[i]! - 48;
            if (!(contentLength >= 0)) throw new ResponseParseError('bad content-length');
          } else if (nameLen === 17 && equalsLower(buf, line, TRANSFER_ENCODING)) {
            chunked = containsLower(buf, vs, ve, CHUNKED);
          } else if (nameLen === 10 && equalsLower(buf, line, CONNECTION)) {
            if (containsLower(buf, vs, ve, CLOSE)) close = true;
            else if (http10 && ve - vs === 10) close = false; // HTTP/1.0 keep-alive
          }
        }
      }
      line = next + 1;
    }
    this.#close = close;
    const noBody =
      status < 200 || status === 204 || status === 304 || (this.expectNoBody() && status >= 200);
    if (noBody) this.#state = State.Head;
    else if (chunked) this.#state = State.ChunkSize;
    else if (contentLength > 0) {
      this.#state = State.Fixed;
      this.#remaining = contentLength;
    } else if (contentLength === 0) this.#state = State.Head;
    else {
      this.#state = State.UntilClose;
      this.#close = true;
    }
  }
}

function equalsLower(buf: Buffer, at: number, lower: Buffer): boolean {
  for (let i = 0; i < lower.length; i++) if ((buf[at + i]! | 0x20) !== lower[i]) return false;
  return true;
}

function containsLower(buf: Buffer, start: number, end: number, word: Buffer): boolean {
  outer: for (let i = start; i + word.length <= end; i++) {
    for (let j = 0; j < word.length; j++) if ((buf[i + j]! | 0x20) !== word[j]) continue outer;
    return true;
  }
  return false;
}
