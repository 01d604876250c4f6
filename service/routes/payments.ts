import type { FastifyInstance } from 'fastify';
import { ApiError } from '../errors.js';
import {
  decodeCursor,
  decodeOffsetCursor,
  encodeCursor,
  encodeOffsetCursor,
} from '../payments/cursor.js';
import { currencies } from '../payments/currencies.js';
import type { Payment, PaymentInput } from '../payments/payment.js';
import type { PaymentService } from '../payments/payment-service.js';
import { UUID_PATTERN } from '../payments/uuid7.js';

/** Largest amount accepted, in minor units (10,000,000.00 of a 2-decimal currency). */
export const MAX_AMOUNT = 1_000_000_000;
export const MAX_USER_ID = 2_147_483_647;
export const DEFAULT_PAGE = 20;
export const MAX_PAGE = 100;

const createBody = {
  type: 'object',
  additionalProperties: false,
  required: ['user_id', 'amount', 'currency'],
  properties: {
    user_id: { type: 'integer', minimum: 1, maximum: MAX_USER_ID },
    amount: { type: 'integer', minimum: 1, maximum: MAX_AMOUNT },
    currency: { type: 'string', enum: currencies },
  },
} as const;

const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

const JSON_TYPE = 'application/json; charset=utf-8';

/**
 * The JSON of each payment object, made once per object. The cache hands out one object per
 * payment until the payment changes, and a change replaces the object (it is never edited in
 * place), so a payment read again and again from the cache is serialized once; and as the
 * Buffer is the same each time, the compression plugin (`immutableBuffers`) computes its ETag
 * once too. An entry goes with its object.
 */
const bodies = new WeakMap<Payment, Buffer>();

function paymentBody(payment: Payment): Buffer {
  let body = bodies.get(payment);
  if (body === undefined) {
    body = Buffer.from(JSON.stringify(payment));
    bodies.set(payment, body);
  }
  return body;
}

function userId(raw: string): number {
  const value = Number(raw);
  if (!/^[1-9]\d{0,9}$/.test(raw) || value > MAX_USER_ID) {
    throw new ApiError(
      'VALIDATION_FAILED',
      `user id must be an integer in [1, ${MAX_USER_ID}], got "${raw}"`,
    );
  }
  return value;
}

function pageLimit(raw: string | undefined): number {
  if (raw === undefined) return DEFAULT_PAGE;
  const value = Number(raw);
  if (!/^\d{1,4}$/.test(raw) || value < 1 || value > MAX_PAGE) {
    throw new ApiError(
      'VALIDATION_FAILED',
      `limit must be an integer in [1, ${MAX_PAGE}], got "${raw}"`,
    );
  }
  return value;
}

export const MAX_USERS_PER_BATCH = 100;

function userIds(raw: string | string[] | undefined): number[] {
  // `ids=1,2` and `ids=1&ids=2` (and a mix) say the same thing.
  const joined = Array.isArray(raw) ? raw.join(',') : raw;
  if (joined === undefined || joined === '') {
    throw new ApiError('VALIDATION_FAILED', 'ids must list user ids, e.g. ids=1,2,3');
  }
  const parts = joined.split(',');
  if (parts.length > MAX_USERS_PER_BATCH) {
    throw new ApiError('VALIDATION_FAILED', `ids may list at most ${MAX_USERS_PER_BATCH} users`);
  }
  return [...new Set(parts.map(userId))];
}

/**
 * POST /api/payments, GET /api/payments/:id, GET /api/users/:id/payments and /summary, and
 * GET /api/users/latest-payments?ids= (batched, or N+1 with `latestMode` naive). Pages of a
 * user's payments use keyset cursors, or OFFSET with `pagination` offset (the naive shape).
 */
export interface PaymentRouteOptions {
  payments: PaymentService;
  /** GET /api/users/latest-payments: one query (`batched`) or one per user (`naive`, N+1). */
  latestMode: 'batched' | 'naive';
  /** A user's pages: `keyset` cursors or `offset` (the naive shape). */
  pagination: 'keyset' | 'offset';
}

export function paymentRoutes(
  app: FastifyInstance,
  { payments, latestMode, pagination }: PaymentRouteOptions,
): void {
  app.get<{ Querystring: { ids?: string | string[] } }>(
    '/api/users/latest-payments',
    { config: { priority: 'normal' } },
    async (request) => {
      return { items: await payments.latestOfUsers(userIds(request.query.ids), latestMode) };
    },
  );

  app.post<{ Body: PaymentInput; Headers: { 'idempotency-key'?: string } }>(
    '/api/payments',
    // A payment outranks every other request when the service sheds load.
    { schema: { body: createBody }, config: { priority: 'critical' } },
    async (request, reply) => {
      const key = request.headers['idempotency-key'];
      if (key !== undefined && !IDEMPOTENCY_KEY.test(key)) {
        throw new ApiError(
          'INVALID_IDEMPOTENCY_KEY',
          'Idempotency-Key must be 1 to 255 visible ASCII characters',
        );
      }
      const { payment, replayed } = await payments.create(request.body, key);
      if (replayed) void reply.header('idempotent-replayed', 'true');
      void reply.header('location', `/api/payments/${payment.id}`);
      // Pending: the charge's outcome is not known yet; poll the Location (docs/api.md).
      if (payment.status === 'pending')
        return reply.code(202).header('retry-after', '1').send(payment);
      return reply.code(201).send(payment);
    },
  );

  app.get<{ Params: { id: string } }>(
    '/api/payments/:id',
    // Clients poll a pending payment here: next after creating one.
    { config: { priority: 'high' } },
    // Not async: a payment fresh in this process's cache is answered without a promise.
    (request, reply) => {
      const { id } = request.params;
      if (!UUID_PATTERN.test(id))
        throw new ApiError('PAYMENT_NOT_FOUND', `payment ${id} does not exist`);
      const cached = payments.peek(id);
      if (cached !== undefined) {
        reply.type(JSON_TYPE).send(paymentBody(cached));
        return;
      }
      return payments.get(id).then((payment) => reply.type(JSON_TYPE).send(paymentBody(payment)));
    },
  );

  app.get<{ Params: { id: string }; Querystring: { limit?: string; cursor?: string } }>(
    '/api/users/:id/payments',
    { config: { priority: 'normal' } },
    async (request) => {
      const user = userId(request.params.id);
      const limit = pageLimit(request.query.limit);
      if (pagination === 'offset') {
        const offset =
          request.query.cursor === undefined ? 0 : decodeOffsetCursor(request.query.cursor);
        const page = await payments.listAtOffset(user, limit, offset);
        return {
          items: page.items,
          next_cursor: page.more ? encodeOffsetCursor(offset + page.items.length) : null,
        };
      }
      const before =
        request.query.cursor === undefined ? undefined : decodeCursor(request.query.cursor);
      const { items, more } = await payments.list(user, limit, before);
      const last = items.at(-1);
      return { items, next_cursor: more && last !== undefined ? encodeCursor(last.id) : null };
    },
  );

  app.get<{ Params: { id: string } }>(
    '/api/users/:id/summary',
    { config: { priority: 'normal' } },
    async (request) => {
      return payments.summary(userId(request.params.id));
    },
  );
}
