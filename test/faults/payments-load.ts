/**
 * Steady open-model payment traffic from hotpath/load: POST /api/payments at a constant
 * arrival rate, each request with its own Idempotency-Key, whatever the service does. Every
 * answer is kept through `onResponse`: which payments were acknowledged (201 or 202 with the
 * body's id), which requests got an error (its status and `code`) and which got no answer.
 */
import { load, type LoadResponse, type LoadResult } from 'hotpath/load';

/** What became of one payment request. */
export interface PaymentAnswer {
  key: string;
  /** HTTP status; 0 when no answer came. */
  httpStatus: number;
  /** The payment's id and status (201/202), or the error's `code`. */
  id?: string;
  status?: string;
  failureReason?: string;
  code?: string;
  /** Why no answer came (connect, timeout, reset). */
  failure?: string;
  /** When the answer (or failure) arrived, `performance.now()` ms. */
  at: number;
  /** The request as sent, kept when it got no answer or a 5xx (to send it again). */
  request?: Buffer;
  /** The answer replayed an earlier request's payment (`Idempotent-Replayed: true`). */
  replayed?: boolean;
}

/** Options of {@link runPayments}. */
export interface PaymentsLoadOptions {
  /** The service's base URL. */
  url: string;
  /** Payments per second. */
  rate: number;
  /** Length of the run in ms, or give `payments`. */
  durationMs?: number;
  /** Stop after this many payments. */
  payments?: number;
  /** Idempotency keys are `<keyPrefix>-<n>`: unique per run. */
  keyPrefix: string;
  /** Longest wait for one answer. Default 10,000 ms. */
  timeoutMs?: number;
  /** Connections opened at most. Default 500. */
  connections?: number;
  signal?: AbortSignal;
  /** Told of each answer as it arrives. */
  onAnswer?: (answer: PaymentAnswer) => void;
}

/** What a run of payments did. */
export interface PaymentsRun {
  answers: PaymentAnswer[];
  /** Acknowledged payments: id -> the answer that acknowledged it. */
  acknowledged: Map<string, PaymentAnswer>;
  /** Requests sent (answered or not). */
  sent: number;
  /** Answers 2xx. */
  succeeded: number;
  /** Answers by HTTP status (0: no answer), and errors by `status code` (e.g. `503 DATABASE_UNAVAILABLE`). */
  byStatus: Record<string, number>;
  byCode: Record<string, number>;
  result: LoadResult;
}

const KEY_HEADER = /\r\nidempotency-key: ([^\r]+)\r\n/;

/** Whether an answer settled the payment with a final word from the gateway. */
export function isDefinite(answer: PaymentAnswer): boolean {
  return (
    answer.httpStatus === 201 && (answer.status === 'authorized' || answer.status === 'declined')
  );
}

function toAnswer(response: LoadResponse, at: number): PaymentAnswer {
  const key = KEY_HEADER.exec(response.request.toString('latin1'))?.[1] ?? '';
  const answer: PaymentAnswer = { key, httpStatus: response.status, at };
  if (response.failure !== null) {
    answer.failure = response.failure;
    answer.request = response.request;
    return answer;
  }
  if (response.status >= 500) answer.request = response.request;
  try {
    const body = JSON.parse(response.body.toString('utf8')) as {
      id?: string;
      status?: string;
      failure_reason?: string | null;
      code?: string;
    };
    if (typeof body.id === 'string') answer.id = body.id;
    if (typeof body.status === 'string') answer.status = body.status;
    if (typeof body.failure_reason === 'string') answer.failureReason = body.failure_reason;
    if (typeof body.code === 'string') answer.code = body.code;
  } catch {
    answer.code = 'NOT_JSON';
  }
  return answer;
}

/**
 * Sends payments at `rate` per second for `durationMs` (or `payments` of them) and resolves
 * once every request sent has been answered or has failed.
 */
export async function runPayments(options: PaymentsLoadOptions): Promise<PaymentsRun> {
  const answers: PaymentAnswer[] = [];
  const acknowledged = new Map<string, PaymentAnswer>();
  const byStatus: Record<string, number> = {};
  const byCode: Record<string, number> = {};
  let succeeded = 0;
  const result = await load(
    {
      url: options.url,
      rate: options.rate,
      ...(options.durationMs === undefined ? {} : { durationMs: options.durationMs }),
      ...(options.payments === undefined ? {} : { requests: options.payments }),
      connections: options.connections ?? 500,
      timeoutMs: options.timeoutMs ?? 10_000,
      mix: {
        requests: [
          {
            method: 'POST',
            path: '/api/payments',
            headers: { 'idempotency-key': `${options.keyPrefix}-{{seq}}` },
            body: {
              user_id: '{{int 1 1000}}',
              amount: '{{int 100 100000}}',
              currency: '{{pick EUR USD GBP}}',
            },
          },
        ],
      },
    },
    {
      ...(options.signal === undefined ? {} : { signal: options.signal }),
      onResponse: (response) => {
        const answer = toAnswer(response, performance.now());
        answers.push(answer);
        byStatus[answer.httpStatus] = (byStatus[answer.httpStatus] ?? 0) + 1;
        if (answer.httpStatus >= 200 && answer.httpStatus < 300) {
          succeeded += 1;
          if ((answer.httpStatus === 201 || answer.httpStatus === 202) && answer.id !== undefined)
            acknowledged.set(answer.id, answer);
        } else {
          const code = `${answer.httpStatus} ${answer.code ?? answer.failure ?? ''}`;
          byCode[code] = (byCode[code] ?? 0) + 1;
        }
        options.onAnswer?.(answer);
      },
    },
  );
  return { answers, acknowledged, sent: answers.length, succeeded, byStatus, byCode, result };
}

/**
 * Sends again, once, each request of `answers` that got no answer or a 5xx, with the same
 * Idempotency-Key and body, as a client that retries would (at most `concurrency` at once).
 * Resolves with the new answers; acknowledged ones are added to `run`.
 */
export async function resendUnanswered(
  url: string,
  run: PaymentsRun,
  concurrency = 32,
): Promise<PaymentAnswer[]> {
  const { request } = await import('undici');
  const toSend = run.answers.filter((a) => a.request !== undefined);
  const resent: PaymentAnswer[] = [];
  let next = 0;
  const worker = async () => {
    while (next < toSend.length) {
      const original = toSend[next++]!;
      const bytes = original.request!.toString('utf8');
      const body = bytes.slice(bytes.indexOf('\r\n\r\n') + 4);
      let answer: PaymentAnswer;
      try {
        const response = await request(`${url}/api/payments`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'idempotency-key': original.key },
          body,
          headersTimeout: 30_000,
          bodyTimeout: 30_000,
        });
        answer = toAnswer(
          {
            request: original.request!,
            status: response.statusCode,
            body: Buffer.from(await response.body.arrayBuffer()),
            failure: null,
          },
          performance.now(),
        );
        if (response.headers['idempotent-replayed'] === 'true') answer.replayed = true;
      } catch (error) {
        answer = {
          key: original.key,
          httpStatus: 0,
          failure: (error as Error).message,
          at: performance.now(),
        };
      }
      resent.push(answer);
      if ((answer.httpStatus === 201 || answer.httpStatus === 202) && answer.id !== undefined)
        run.acknowledged.set(answer.id, answer);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return resent;
}
