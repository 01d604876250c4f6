/**
 * The payment gateway simulator: a separate HTTP server standing in for a card processor,
 * with a configurable latency distribution, failure rate (503s) and decline rate. Charges are
 * idempotent by payment id, as a real processor's are by idempotency key: a retried charge
 * returns the first outcome and never charges twice. Every charge is kept in a ledger
 * (ledger.ts), durable with a ledger file, and faults (faults.ts) can be set at run time.
 *
 *   POST   /v1/charges { id, amount, currency } -> 200 { id, amount, currency, status: authorized|declined, reference?, reason? }
 *                                               -> 503 { code: GATEWAY_UNAVAILABLE } (failure rate, failFirst)
 *   GET    /v1/charges/:id                      -> 200 charge | 404
 *   GET    /v1/ledger                           -> 200 NDJSON, one ledger charge a line (with created_at, creations)
 *   GET    /health                              -> 200
 *   GET    /_faults                             -> 200 faults in force
 *   POST   /_faults { …fields to change }       -> 200 faults in force | 400 { code: INVALID_FAULTS }
 *   DELETE /_faults                             -> 200 no faults
 *
 * Only `/_faults` is answered while frozen. See docs/gateway-simulator.md.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { FaultState, type GatewayFaults } from './faults.js';
import { ChargeLedger, type Charge, type LedgerCharge } from './ledger.js';
import type { LatencySampler } from './latency.js';

export type { Charge, LedgerCharge } from './ledger.js';

export interface GatewayOptions {
  latency: LatencySampler;
  /** Share of charge requests answered 503 without charging, in [0, 1]. */
  failureRate: number;
  /** Share of charges declined, in [0, 1]. */
  declineRate: number;
  random?: () => number;
  /** Clock of the ledger's `created_at`, in ms since the epoch. Default `Date.now`. */
  now?: () => number;
  /**
   * NDJSON file of the ledger: loaded at start, each new charge appended before it is
   * answered, so charges and idempotency survive a restart. Default: the ledger is in memory.
   */
  ledgerFile?: string;
  /**
   * Without `ledgerFile` only (the two throw together): charges remembered; the oldest are
   * forgotten past this, and a forgotten id would be charged again. Default 1,000,000.
   */
  maxCharges?: number;
  /** Faults in force from the start. Default none. */
  faults?: Partial<GatewayFaults>;
}

const MAX_BODY = 4096;
// Ledger lines are written to the socket in chunks of about this many characters.
const LEDGER_CHUNK = 64 * 1024;

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY) {
        reject(new Error('body too large'));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const text = await readBody(req);
  return text === '' ? {} : (JSON.parse(text) as unknown);
}

/** Waits `ms`, or less when the response closes first (nobody is left to answer). */
function delay(ms: number, res?: ServerResponse): Promise<void> {
  if (ms <= 0) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      res?.off('close', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    res?.once('close', done);
  });
}

/** Resolves when `res` can take more data or is closed. */
function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.once('drain', done);
    res.once('close', done);
  });
}

/** The charge fields of a ledger entry: what the gateway answers for a charge. */
function answerOf(charge: LedgerCharge): Charge {
  const { created_at: _createdAt, creations: _creations, ...answer } = charge;
  return answer;
}

/**
 * Creates the simulator's HTTP server (not yet listening).
 * @throws Error when `ledgerFile` cannot be read or `faults` or `maxCharges` is invalid.
 * @example
 * const server = createGatewayServer({ latency: parseLatency('none'), failureRate: 0,
 *   declineRate: 0, ledgerFile: './data/gateway-ledger.ndjson' });
 * server.listen(3001, '127.0.0.1');
 */
export function createGatewayServer(options: GatewayOptions): Server {
  const random = options.random ?? Math.random;
  const now = options.now ?? Date.now;
  const ledger = new ChargeLedger({
    ...(options.ledgerFile === undefined ? {} : { file: options.ledgerFile }),
    ...(options.maxCharges === undefined ? {} : { maxCharges: options.maxCharges }),
  });
  const faults = new FaultState(options.faults);

  const answerCharge = async (res: ServerResponse, charge: LedgerCharge): Promise<void> => {
    const { dropAfterCommitRate, lateAnswerMs } = faults.current;
    // Drawn only when the fault is on, so seeded runs without it see the same outcomes.
    if (dropAfterCommitRate > 0 && random() < dropAfterCommitRate) {
      res.socket?.destroy();
      return;
    }
    await delay(lateAnswerMs, res);
    if (!res.destroyed) send(res, 200, answerOf(charge));
  };

  const charge = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    let input: { id?: unknown; amount?: unknown; currency?: unknown };
    try {
      input = (await readJson(req)) as typeof input;
    } catch {
      return send(res, 400, { code: 'INVALID_REQUEST', message: 'body must be JSON' });
    }
    if (
      typeof input !== 'object' ||
      input === null ||
      typeof input.id !== 'string' ||
      typeof input.amount !== 'number' ||
      typeof input.currency !== 'string'
    ) {
      return send(res, 400, {
        code: 'INVALID_REQUEST',
        message: 'id, amount and currency are required',
      });
    }
    // While frozen a request waits, then goes on when thawed even if its client gave up, as
    // a stopped process reads and serves its socket buffers when continued.
    await faults.whenThawed();
    await delay(options.latency(random));
    await faults.whenThawed();
    if (random() < options.failureRate) return send(res, 503, { code: 'GATEWAY_UNAVAILABLE' });

    // From here to ledger.create there is no await: two requests for one id cannot both
    // find it missing.
    const existing = ledger.get(input.id);
    if (existing !== undefined) return answerCharge(res, existing);
    if (faults.refuseAttempt(input.id)) return send(res, 503, { code: 'GATEWAY_UNAVAILABLE' });
    const declined = random() < options.declineRate;
    const created = ledger.create(
      declined
        ? {
            id: input.id,
            amount: input.amount,
            currency: input.currency,
            status: 'declined',
            reason: 'insufficient_funds',
          }
        : {
            id: input.id,
            amount: input.amount,
            currency: input.currency,
            status: 'authorized',
            reference: `ch_${randomBytes(9).toString('base64url')}`,
          },
      new Date(now()),
    );
    faults.charged(input.id);
    return answerCharge(res, created);
  };

  const streamLedger = async (res: ServerResponse): Promise<void> => {
    // The charges that exist now: a consistent prefix of the ledger, however long it takes.
    const count = ledger.size;
    res.writeHead(200, {
      'content-type': 'application/x-ndjson',
      'x-ledger-charges': String(count),
      'x-ledger-evicted': String(ledger.evicted),
    });
    let chunk = '';
    let sent = 0;
    for (const entry of ledger.values()) {
      if (sent === count) break;
      sent += 1;
      chunk += `${JSON.stringify(entry)}\n`;
      if (chunk.length < LEDGER_CHUNK) continue;
      if (res.destroyed) return;
      const more = res.write(chunk);
      chunk = '';
      if (!more) await drained(res);
    }
    res.end(chunk);
  };

  const controlFaults = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (req.method === 'GET') return send(res, 200, faults.current);
    if (req.method === 'DELETE') return send(res, 200, faults.clear());
    if (req.method !== 'POST') return send(res, 405, { code: 'METHOD_NOT_ALLOWED' });
    try {
      return send(res, 200, faults.update(await readJson(req)));
    } catch (error) {
      return send(res, 400, { code: 'INVALID_FAULTS', message: (error as Error).message });
    }
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? '/').split('?', 1)[0] ?? '/';
    if (path === '/_faults') return controlFaults(req, res);
    if (req.method === 'POST' && path === '/v1/charges') return charge(req, res);
    await faults.whenThawed();
    if (req.method === 'GET' && path === '/health') return send(res, 200, { status: 'ok' });
    if (req.method === 'GET' && path === '/v1/ledger') return streamLedger(res);
    if (req.method === 'GET' && path.startsWith('/v1/charges/')) {
      const found = ledger.get(decodeURIComponent(path.slice('/v1/charges/'.length)));
      return found === undefined
        ? send(res, 404, { code: 'CHARGE_NOT_FOUND' })
        : send(res, 200, answerOf(found));
    }
    return send(res, 404, { code: 'NOT_FOUND' });
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      // A ledger write that failed (disk full) must not be answered as a charge.
      if (!res.headersSent)
        send(res, 500, { code: 'GATEWAY_ERROR', message: (error as Error).message });
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 65_000;
  return server;
}
