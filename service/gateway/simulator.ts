/**
 * The payment gateway simulator: a separate HTTP server standing in for a card processor,
 * with a configurable latency distribution, failure rate (503s) and decline rate. Charges are
 * idempotent by payment id, as a real processor's are by idempotency key: a retried charge
 * returns the first outcome and never charges twice.
 *
 *   POST /v1/charges   { id, amount, currency } -> 200 { id, status: authorized|declined, reference?, reason? }
 *                                              -> 503 { code: GATEWAY_UNAVAILABLE } (failure rate)
 *   GET  /v1/charges/:id                       -> 200 charge | 404
 *   GET  /health                               -> 200
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { LatencySampler } from './latency.js';

export interface GatewayOptions {
  latency: LatencySampler;
  /** Share of charge requests answered 503 without charging, in [0, 1]. */
  failureRate: number;
  /** Share of charges declined, in [0, 1]. */
  declineRate: number;
  random?: () => number;
  /** Charges remembered for idempotency; the oldest are forgotten past this. Default 1,000,000. */
  maxCharges?: number;
}

export interface Charge {
  id: string;
  amount: number;
  currency: string;
  status: 'authorized' | 'declined';
  reference?: string;
  reason?: string;
}

const MAX_BODY = 4096;

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

/** Creates the simulator's HTTP server (not yet listening). */
export function createGatewayServer(options: GatewayOptions): Server {
  const random = options.random ?? Math.random;
  const maxCharges = options.maxCharges ?? 1_000_000;
  const charges = new Map<string, Charge>();
  const delay = (ms: number) =>
    ms <= 0 ? Promise.resolve() : new Promise((r) => setTimeout(r, ms));

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = req.url ?? '/';
    if (req.method === 'GET' && url === '/health') return send(res, 200, { status: 'ok' });
    if (req.method === 'GET' && url.startsWith('/v1/charges/')) {
      const charge = charges.get(decodeURIComponent(url.slice('/v1/charges/'.length)));
      return charge === undefined
        ? send(res, 404, { code: 'CHARGE_NOT_FOUND' })
        : send(res, 200, charge);
    }
    if (req.method !== 'POST' || url !== '/v1/charges')
      return send(res, 404, { code: 'NOT_FOUND' });

    let input: { id?: unknown; amount?: unknown; currency?: unknown };
    try {
      input = JSON.parse(await readBody(req)) as typeof input;
    } catch {
      return send(res, 400, { code: 'INVALID_REQUEST', message: 'body must be JSON' });
    }
    if (
      typeof input.id !== 'string' ||
      typeof input.amount !== 'number' ||
      typeof input.currency !== 'string'
    ) {
      return send(res, 400, {
        code: 'INVALID_REQUEST',
        message: 'id, amount and currency are required',
      });
    }
    await delay(options.latency(random));
    if (random() < options.failureRate) return send(res, 503, { code: 'GATEWAY_UNAVAILABLE' });

    const existing = charges.get(input.id);
    if (existing !== undefined) return send(res, 200, existing);
    const declined = random() < options.declineRate;
    const charge: Charge = declined
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
        };
    charges.set(input.id, charge);
    if (charges.size > maxCharges) charges.delete(charges.keys().next().value as string);
    send(res, 200, charge);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent)
        send(res, 400, { code: 'INVALID_REQUEST', message: (error as Error).message });
    });
  });
  server.keepAliveTimeout = 65_000;
  return server;
}
