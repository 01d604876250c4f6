/**
 * The two arrival models against a fake engine core: connections are plain objects, sends
 * are recorded instead of written, and the calls a model makes to the core are counted. The
 * engine with real sockets is tested in engine.test.ts.
 */
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { describe, test } from 'node:test';
import type { EngineCore } from './arrival-model.js';
import { ClosedModel } from './closed-model.js';
import type { Connection } from './connection.js';
import { OpenModel } from './open-model.js';
import { type LoadOptions, type ResolvedOptions, resolveOptions, Schedule } from './options.js';
import { Stats, summarize } from './stats.js';

/** The few fields of a connection the models read, settable by the test. */
interface FakeConnection {
  isClosed: boolean;
  isConnected: boolean;
  inflight: number;
}

/** One request handed to a connection. */
interface FakeSend {
  conn: FakeConnection;
  intended: number;
  now: number;
}

/** The engine core, minus sockets, requests and statistics beyond the Stats object. */
class FakeEngineCore implements EngineCore {
  readonly options: ResolvedOptions;
  readonly stats: Stats;
  isRunning = true;
  isStopping = false;
  isMeasuring = true;
  readonly conns: FakeConnection[] = [];
  readonly sends: FakeSend[] = [];
  readonly stops: boolean[] = [];
  readonly timers: { fn: () => void; delayMs: number }[] = [];
  unsentFailures = 0;
  drainChecks = 0;

  constructor(options: Omit<LoadOptions, 'url'>) {
    this.options = resolveOptions({ url: 'http://127.0.0.1:1/', ...options });
    this.stats = new Stats(this.options.model);
  }

  get sent(): number {
    return this.sends.length;
  }

  get connectionCount(): number {
    return this.conns.filter((c) => !c.isClosed).length;
  }

  openConnection(): Connection {
    const conn: FakeConnection = { isClosed: false, isConnected: true, inflight: 0 };
    this.conns.push(conn);
    return conn as unknown as Connection;
  }

  send(conn: Connection, intended: number, now: number): void {
    const fake = conn as unknown as FakeConnection;
    fake.inflight++;
    this.sends.push({ conn: fake, intended, now });
  }

  inflightTotal(): number {
    return this.conns.reduce((n, c) => n + c.inflight, 0);
  }

  failUnsent(): void {
    this.unsentFailures++;
  }

  stop(drain: boolean): void {
    this.stops.push(drain);
    this.isRunning = false;
    this.isStopping = true;
  }

  checkDrained(): void {
    this.drainChecks++;
  }

  later(fn: () => void, delayMs: number): void {
    this.timers.push({ fn, delayMs });
  }

  /** `conn` answers its oldest request: what the engine does before telling the model. */
  answer(conn: FakeConnection): Connection {
    conn.inflight--;
    return conn as unknown as Connection;
  }
}

describe('ClosedModel', () => {
  test('start opens every connection and fills each to its pipelining depth, sent when created', () => {
    const core = new FakeEngineCore({ connections: 3, pipelining: 2 });
    new ClosedModel(core).start();
    assert.equal(core.conns.length, 3);
    assert.deepEqual(
      core.conns.map((c) => c.inflight),
      [2, 2, 2],
    );
    for (const s of core.sends) assert.equal(s.intended, s.now);
  });

  test('a response frees a place that is filled at once on the same connection', () => {
    const core = new FakeEngineCore({ connections: 2 });
    const model = new ClosedModel(core);
    model.start();
    const [a] = core.conns;
    model.onResponse(core.answer(a!), performance.now());
    assert.equal(core.sent, 3);
    assert.equal(core.sends.at(-1)!.conn, a);
  });

  test('stops (draining) once the request count is sent and nothing is in flight', () => {
    const core = new FakeEngineCore({ connections: 2, requests: 3 });
    const model = new ClosedModel(core);
    model.start();
    const [a, b] = core.conns;
    model.onResponse(core.answer(a!), performance.now());
    assert.equal(core.sent, 3);
    model.onResponse(core.answer(a!), performance.now());
    assert.deepEqual(core.stops, []);
    model.onResponse(core.answer(b!), performance.now());
    assert.equal(core.sent, 3);
    assert.deepEqual(core.stops, [true]);
  });

  test('after the stop, a response only checks whether the drain is over', () => {
    const core = new FakeEngineCore({ connections: 1 });
    const model = new ClosedModel(core);
    model.start();
    core.stop(true);
    model.onResponse(core.answer(core.conns[0]!), performance.now());
    assert.equal(core.sent, 1);
    assert.equal(core.drainChecks, 1);
  });

  test('a connection that had connected is replaced at once; a refused one after a pause', () => {
    const core = new FakeEngineCore({ connections: 1 });
    const model = new ClosedModel(core);
    model.start();
    const first = core.conns[0]!;
    first.isClosed = true;
    model.onClose(first as unknown as Connection);
    assert.equal(core.conns.length, 2);
    assert.equal(core.conns[1]!.inflight, 1);

    const refused = core.conns[1]!;
    refused.isClosed = true;
    refused.isConnected = false;
    model.onClose(refused as unknown as Connection);
    assert.equal(core.conns.length, 2);
    assert.deepEqual(
      core.timers.map((t) => t.delayMs),
      [50],
    );
    core.timers[0]!.fn();
    assert.equal(core.conns.length, 3);
  });

  test('a retry due after the run stopped opens nothing', () => {
    const core = new FakeEngineCore({ connections: 1 });
    const model = new ClosedModel(core);
    model.start();
    const refused = core.conns[0]!;
    refused.isConnected = false;
    model.onClose(refused as unknown as Connection);
    core.stop(false);
    core.timers[0]!.fn();
    assert.equal(core.conns.length, 1);
  });

  test('seeds the expected interval at 200 responses and refreshes it every second', () => {
    const core = new FakeEngineCore({});
    const model = new ClosedModel(core);
    const s = core.stats;
    for (let i = 0; i < 199; i++) {
      s.recordResponse(1000, 1000, 200, 10, 0);
      model.onMeasuredResponse(s);
    }
    assert.equal(s.expectedIntervalUs, 0);
    s.recordResponse(1000, 1000, 200, 10, 0);
    model.onMeasuredResponse(s);
    assert.equal(s.expectedIntervalUs, s.intended.percentile(50));
    assert.ok(s.expectedIntervalUs > 0);
    for (let i = 0; i < 1000; i++) s.recordResponse(5000, 5000, 200, 10, 0);
    model.onSecond(s);
    assert.equal(s.expectedIntervalUs, s.intended.percentile(50));
  });

  test('has no backlog, no target rate and no send lag', () => {
    const core = new FakeEngineCore({});
    const model = new ClosedModel(core);
    assert.equal(model.backlog, 0);
    assert.equal(model.dropBacklog(), 0);
    assert.equal(model.targetRate(), null);
    assert.deepEqual(model.sendStats(), {
      lateSends: 0,
      sendLagP99: 0,
      waitedForConnection: 0,
    });
  });
});

describe('OpenModel', () => {
  /** A model started `agoMs` in the past, so that the requests of that span are due now. */
  function startedAgo(core: FakeEngineCore, agoMs: number): OpenModel {
    const model = new OpenModel(core);
    model.start(performance.now() - agoMs);
    model.stop(); // no timer left behind: the test drives it
    return model;
  }

  test('sends each due request with its intended time from the schedule, opening connections as needed', () => {
    const core = new FakeEngineCore({ rate: 1000, connections: 100 });
    const t0 = performance.now() - 20;
    const model = new OpenModel(core);
    model.start(t0);
    model.stop();
    const schedule = new Schedule(core.options);
    assert.ok(core.sent >= 20, `sent ${core.sent}`);
    core.sends.forEach((s, k) => assert.equal(s.intended, t0 + schedule.at(k)));
    assert.equal(core.conns.length, core.sent);
  });

  test('a request that finds every connection busy waits with its intended time', () => {
    const core = new FakeEngineCore({ rate: 1000, connections: 1 });
    const model = startedAgo(core, 20);
    assert.equal(core.sent, 1);
    const waiting = model.backlog;
    assert.ok(waiting >= 19, `backlog ${waiting}`);
    assert.equal(model.sendStats().waitedForConnection, waiting);
    const conn = core.answer(core.conns[0]!);
    model.onResponse(conn, performance.now());
    assert.equal(core.sent, 2);
    assert.equal(core.sends[1]!.intended, core.sends[0]!.intended + 1);
    assert.equal(model.backlog, waiting - 1);
    assert.equal(model.dropBacklog(), waiting - 1);
    assert.equal(model.backlog, 0);
  });

  test('a waiting request older than the timeout is counted as a timeout, never sent', () => {
    const core = new FakeEngineCore({ rate: 1000, connections: 1, timeoutMs: 50 });
    const model = startedAgo(core, 200);
    const now = performance.now();
    model.onResponse(core.answer(core.conns[0]!), now);
    assert.ok(core.unsentFailures >= 140, `failed ${core.unsentFailures}`);
    assert.equal(core.sent, 2);
    assert.ok(now - core.sends[1]!.intended <= 50);
  });

  test('a free connection with nothing waiting is kept for the next arrival', () => {
    const core = new FakeEngineCore({ rate: 1, connections: 10 });
    const model = startedAgo(core, 0);
    assert.equal(core.sent, 1);
    model.onResponse(core.answer(core.conns[0]!), performance.now());
    assert.equal(core.sent, 1);
    assert.equal(model.backlog, 0);
    // Stopping: a free connection ends the drain if nothing else is left.
    core.stop(true);
    model.onResponse(core.conns[0]! as unknown as Connection, performance.now());
    assert.equal(core.drainChecks, 1);
  });

  test('stops (draining) when the request count has been scheduled', () => {
    const core = new FakeEngineCore({ rate: 1000, requests: 5, connections: 100 });
    startedAgo(core, 20);
    assert.equal(core.sent, 5);
    assert.deepEqual(core.stops, [true]);
  });

  test('a closed connection is replaced when requests wait', () => {
    const core = new FakeEngineCore({ rate: 1000, connections: 1 });
    const model = startedAgo(core, 10);
    const waiting = model.backlog;
    core.conns[0]!.isClosed = true;
    model.onClose(core.conns[0]! as unknown as Connection);
    assert.equal(core.conns.length, 2);
    assert.equal(core.sent, 2);
    assert.equal(model.backlog, waiting - 1);
  });

  test('counts late sends and the send lag only while measuring', () => {
    const none = { lateSends: 0, sendLagP99: 0, waitedForConnection: 0 };
    const warmingUp = new FakeEngineCore({ rate: 1000, connections: 1000 });
    warmingUp.isMeasuring = false;
    const before = startedAgo(warmingUp, 30);
    assert.ok(warmingUp.sent >= 30);
    assert.deepEqual(before.sendStats(), none);
    const core = new FakeEngineCore({ rate: 1000, connections: 1000 });
    const model = startedAgo(core, 30);
    const stats = model.sendStats();
    assert.ok(stats.lateSends >= 20, `late ${stats.lateSends}`);
    assert.ok(stats.sendLagP99 >= 25_000, `lag p99 ${stats.sendLagP99} us`);
    model.beginMeasuring();
    assert.deepEqual(model.sendStats(), none);
  });

  test('reports the target rate of its stages and the latency from the actual send apart', () => {
    const core = new FakeEngineCore({
      stages: [
        { durationMs: 1000, rate: 100 },
        { durationMs: 1000, rate: 100 },
      ],
    });
    const model = new OpenModel(core);
    assert.equal(model.targetRate(500), 50);
    assert.equal(model.targetRate(1500), 100);
    const s = core.stats;
    s.recordResponse(9000, 1000, 200, 10, 0);
    const latency = summarize(s.intended);
    const { actualLatency, coordinatedOmission } = model.latencyResult(s, latency);
    assert.equal(coordinatedOmission, null);
    assert.ok(actualLatency.percentiles['99']! < latency.percentiles['99']!);
  });
});
