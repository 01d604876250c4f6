import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type L2Read, L2Reads, type ReadClient } from './l2-reads.js';
import { LatencyRecorder } from './latency.js';

/** A client whose replies the test gives, in the order the commands were sent. */
class StubClient implements ReadClient {
  readonly sent: string[][] = [];
  readonly #replies: {
    resolve: (v: (string | null)[]) => void;
    reject: (e: Error) => void;
  }[] = [];

  get(key: string): Promise<string | null> {
    return this.mget([key]).then((v) => v[0]!);
  }

  mget(keys: string[]): Promise<(string | null)[]> {
    this.sent.push(keys);
    return new Promise((resolve, reject) => this.#replies.push({ resolve, reject }));
  }

  /** Answers the oldest unanswered command from `store`. */
  answer(store: Map<string, string>): void {
    const keys = this.sent[this.sent.length - this.#replies.length]!;
    this.#replies.shift()!.resolve(keys.map((k) => store.get(k) ?? null));
  }

  refuse(error: Error): void {
    this.#replies.shift()!.reject(error);
  }

  get unanswered(): number {
    return this.#replies.length;
  }
}

function setup(timeoutMs = 60_000, batchSize = 2) {
  const client = new StubClient();
  const failures: unknown[] = [];
  let usable = true;
  const latency = new LatencyRecorder();
  const reads = new L2Reads({
    client,
    prefix: 'ns:v:',
    batchSize,
    timeoutMs,
    usable: () => usable,
    fail: (error) => failures.push(error),
    latency,
  });
  return { client, reads, failures, latency, down: () => (usable = false) };
}

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('L2Reads', () => {
  test('reads of one turn go out as MGETs of at most batchSize keys, answered in order', async () => {
    const { client, reads, latency } = setup();
    const got = ['a', 'b', 'c'].map((k) => reads.get(k));
    const shared = reads.get('a');
    await turn();
    assert.deepEqual(client.sent, [['ns:v:a', 'ns:v:b'], ['ns:v:c']]);
    const store = new Map([
      ['ns:v:a', 'A'],
      ['ns:v:c', 'C'],
    ]);
    client.answer(store);
    client.answer(store);
    assert.deepEqual(await Promise.all(got), ['A', null, 'C']);
    assert.equal(await shared, 'A');
    assert.equal(latency.summary().count, 2);
  });

  test('a turn with more reads than batchSize is split evenly', async () => {
    const { client, reads } = setup(60_000, 4);
    for (const k of ['a', 'b', 'c', 'd', 'e']) void reads.get(k);
    await turn();
    assert.deepEqual(
      client.sent.map((keys) => keys.length),
      [3, 2],
    );
    client.answer(new Map());
    client.answer(new Map());
  });

  test('enqueued reads settle from the reply; each has its own slot', async () => {
    const { client, reads } = setup();
    const seen: (string | null | undefined)[] = [];
    const read = (key: string): L2Read => ({ key, settle: (t) => seen.push(t) });
    reads.enqueue(read('k'));
    reads.enqueue(read('k'));
    await turn();
    assert.deepEqual(client.sent, [['ns:v:k', 'ns:v:k']]);
    client.answer(new Map([['ns:v:k', 'V']]));
    await turn();
    assert.deepEqual(seen, ['V', 'V']);
  });

  test('an error fails the batch: its reads get undefined and the tier is told', async () => {
    const { client, reads, failures } = setup();
    const got = reads.get('a');
    await turn();
    client.refuse(new Error('boom'));
    assert.equal(await got, undefined);
    assert.equal(failures.length, 1);
    assert.equal((failures[0] as Error).message, 'boom');
  });

  test('unanswered batches time out through one watchdog; a late reply is ignored', async (t) => {
    // A deadline far above the 10 ms between the two batches, so a stalled machine still sends
    // the second before the first times out.
    const { client, reads, failures } = setup(1000);
    // The watchdog does not hold the process open (a real client's socket does): this does.
    const alive = setInterval(() => undefined, 1000);
    t.after(() => clearInterval(alive));
    const first = reads.get('a');
    await turn();
    await sleep(10);
    const second = reads.get('b');
    await turn();
    assert.equal(client.unanswered, 2);
    assert.equal(await first, undefined);
    assert.equal(failures.length, 1);
    assert.match((failures[0] as Error).message, /did not answer within 1000 ms/);
    assert.equal(await second, undefined);
    assert.equal(failures.length, 2);
    // The late replies change nothing.
    client.answer(new Map([['ns:v:a', 'A']]));
    client.answer(new Map([['ns:v:b', 'B']]));
    await turn();
    assert.equal(failures.length, 2);
    // A new read after the timeouts is sent and answered normally.
    const third = reads.get('a');
    await turn();
    client.answer(new Map([['ns:v:a', 'A']]));
    assert.equal(await third, 'A');
  });

  test('while the tier is down, queued reads settle with undefined and nothing is sent', async () => {
    const { client, reads, down } = setup();
    const got = reads.get('a');
    down();
    assert.equal(await got, undefined);
    assert.equal(client.sent.length, 0);
  });
});
