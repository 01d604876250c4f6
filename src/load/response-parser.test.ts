import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ResponseParser, ResponseParseError } from './response-parser.js';

function collect(): { parser: ResponseParser; seen: [number, number, boolean][] } {
  const seen: [number, number, boolean][] = [];
  const parser = new ResponseParser((status, bytes, close) => seen.push([status, bytes, close]));
  return { parser, seen };
}

const ok = 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello';
const chunked =
  'HTTP/1.1 201 Created\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\nx-trailer: 1\r\n\r\n';

describe('ResponseParser', () => {
  test('reads status and counts bytes of a content-length response', () => {
    const { parser, seen } = collect();
    parser.execute(Buffer.from(ok));
    assert.deepEqual(seen, [[200, Buffer.byteLength(ok), false]]);
  });

  test('reads pipelined responses arriving in one chunk', () => {
    const { parser, seen } = collect();
    parser.execute(Buffer.from(ok + chunked + ok));
    assert.deepEqual(
      seen.map((s) => s[0]),
      [200, 201, 200],
    );
    assert.equal(seen[1]![1], Buffer.byteLength(chunked));
  });

  test('reads a response split at every byte', () => {
    const { parser, seen } = collect();
    const all = Buffer.from(chunked + ok);
    for (let i = 0; i < all.length; i++) parser.execute(all.subarray(i, i + 1));
    assert.deepEqual(seen, [
      [201, Buffer.byteLength(chunked), false],
      [200, Buffer.byteLength(ok), false],
    ]);
  });

  test('honours Connection: close and HTTP/1.0', () => {
    const { parser, seen } = collect();
    parser.execute(
      Buffer.from('HTTP/1.1 503 Busy\r\nCONNECTION: Close\r\ncontent-length: 0\r\n\r\n'),
    );
    parser.execute(Buffer.from('HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nhi'));
    assert.deepEqual(
      seen.map(([s, , c]) => [s, c]),
      [
        [503, true],
        [200, true],
      ],
    );
  });

  test('a response without length ends with the connection', () => {
    const { parser, seen } = collect();
    parser.execute(Buffer.from('HTTP/1.1 200 OK\r\n\r\nstream'));
    parser.execute(Buffer.from('ing'));
    assert.equal(seen.length, 0);
    parser.end();
    assert.deepEqual(seen, [[200, 28, true]]);
  });

  test('204, 304 and answers to HEAD have no body', () => {
    const { parser, seen } = collect();
    let isHead = false;
    parser.expectNoBody = () => isHead;
    parser.execute(Buffer.from('HTTP/1.1 204 No Content\r\ncontent-length: 9\r\n\r\n'));
    isHead = true;
    parser.execute(Buffer.from('HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\n'));
    assert.deepEqual(
      seen.map((s) => s[0]),
      [204, 200],
    );
  });

  test('skips 100 Continue', () => {
    const { parser, seen } = collect();
    parser.execute(Buffer.from('HTTP/1.1 100 Continue\r\n\r\n' + ok));
    assert.deepEqual(
      seen.map((s) => s[0]),
      [200],
    );
  });

  test('rejects garbage', () => {
    const { parser } = collect();
    assert.throws(() => parser.execute(Buffer.from('garbage garbage\r\n\r\n')), ResponseParseError);
  });

  test('hands each body to the handler when captureBody is on, framing removed', () => {
    const bodies: string[] = [];
    const parser = new ResponseParser((_s, _b, _c, body) => bodies.push(body!.toString()));
    parser.captureBody = true;
    const all = Buffer.from(ok + chunked + 'HTTP/1.1 204 No Content\r\n\r\n' + ok);
    // Split at every byte, in one reused buffer as the socket delivers them.
    const scratch = Buffer.alloc(1);
    for (let i = 0; i < all.length; i++) {
      scratch[0] = all[i]!;
      parser.execute(scratch);
    }
    parser.execute(Buffer.from('HTTP/1.1 200 OK\r\n\r\nuntil '));
    parser.execute(Buffer.from('close'));
    parser.end();
    assert.deepEqual(bodies, ['hello', 'hello world', '', 'hello', 'until close']);
  });

  test('hands no body when captureBody is off', () => {
    const bodies: (Buffer | null)[] = [];
    const parser = new ResponseParser((_s, _b, _c, body) => bodies.push(body));
    parser.execute(Buffer.from(ok));
    assert.deepEqual(bodies, [null]);
  });
});

describe('ResponseParser: bodies per response', () => {
  test('hands over the body only of responses it was asked to keep', () => {
    const bodies: (string | null)[] = [];
    const parser = new ResponseParser((_s, _b, _c, body) =>
      bodies.push(body === null ? null : body.toString()),
    );
    const wanted = [false, true, false, true];
    parser.shouldCaptureBody = () => wanted.shift() ?? false;
    const text = ok + chunked + ok + ok;
    // One byte at a time: a body split across reads is still handed over whole.
    for (let i = 0; i < text.length; i++) parser.execute(Buffer.from(text[i]!));
    assert.deepEqual(bodies, [null, 'hello world', null, 'hello']);
  });
});
