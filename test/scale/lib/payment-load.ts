/**
 * A load of payments for scale-out tests: `clients` loops, each creating a payment with a fresh
 * Idempotency-Key, reading it back, and now and then sending the same POST again (a replay),
 * until `stop()`. Every answer is recorded; nothing is retried, so a lost request shows.
 */
import { randomUUID } from 'node:crypto';
import { Agent, request } from 'undici';

export interface Failure {
  what: string;
  status?: number;
  body?: string;
  error?: string;
}

export interface LoadOutcome {
  /** Idempotency-Key -> id of the payment the service acknowledged (201 or 202). */
  acknowledged: Map<string, string>;
  posts: number;
  gets: number;
  replays: number;
  failures: Failure[];
}

export interface PaymentLoad {
  /** Stops sending and resolves once every request in flight was answered. */
  stop(): Promise<LoadOutcome>;
  /** Requests answered so far. */
  readonly answered: number;
}

export function startPaymentLoad(baseUrl: string, clients: number): PaymentLoad {
  const agent = new Agent({ connections: clients, keepAliveTimeout: 30_000 });
  const outcome: LoadOutcome = {
    acknowledged: new Map(),
    posts: 0,
    gets: 0,
    replays: 0,
    failures: [],
  };
  let running = true;
  let answered = 0;

  async function send(
    what: string,
    method: 'GET' | 'POST',
    path: string,
    headers: Record<string, string> = {},
    body?: string,
  ): Promise<{ status: number; json: Record<string, unknown> } | undefined> {
    try {
      const res = await request(baseUrl + path, {
        method,
        headers,
        dispatcher: agent,
        ...(body === undefined ? {} : { body }),
      });
      const text = await res.body.text();
      answered++;
      if (res.statusCode >= 300) {
        outcome.failures.push({ what, status: res.statusCode, body: text.slice(0, 300) });
        return undefined;
      }
      return { status: res.statusCode, json: JSON.parse(text) as Record<string, unknown> };
    } catch (error) {
      outcome.failures.push({ what, error: (error as Error).message });
      return undefined;
    }
  }

  async function client(n: number): Promise<void> {
    let i = 0;
    while (running) {
      i++;
      const key = `scale-${randomUUID()}`;
      const body = JSON.stringify({
        user_id: 1 + ((n * 1000 + i) % 500),
        amount: 100 + i,
        currency: 'EUR',
      });
      const headers = { 'content-type': 'application/json', 'idempotency-key': key };
      outcome.posts++;
      const created = await send(`POST ${key}`, 'POST', '/api/payments', headers, body);
      if (created === undefined) continue;
      const id = created.json.id as string;
      outcome.acknowledged.set(key, id);
      outcome.gets++;
      const read = await send(`GET ${id}`, 'GET', `/api/payments/${id}`);
      if (read !== undefined && read.json.id !== id) {
        outcome.failures.push({
          what: `GET ${id}`,
          body: `answered payment ${String(read.json.id)}`,
        });
      }
      if (i % 4 === 0) {
        outcome.replays++;
        const again = await send(`replay ${key}`, 'POST', '/api/payments', headers, body);
        if (again !== undefined && again.json.id !== id) {
          outcome.failures.push({
            what: `replay ${key}`,
            body: `a second payment ${String(again.json.id)}`,
          });
        }
      }
    }
  }

  const loops = Array.from({ length: clients }, (_, n) => client(n));
  return {
    get answered() {
      return answered;
    },
    async stop() {
      running = false;
      await Promise.all(loops);
      await agent.close();
      return outcome;
    },
  };
}
