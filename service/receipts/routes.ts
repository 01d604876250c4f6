import type { FastifyInstance } from 'fastify';
import { ApiError } from '../errors.js';
import type { PaymentService } from '../payments/payment-service.js';
import { UUID_PATTERN } from '../payments/uuid7.js';
import { RECEIPT_HISTORY } from './receipt.js';
import type { Receipts } from './receipts.js';

/** GET /api/payments/:id/receipt: the signed receipt of a final payment (docs/api.md). */
export function receiptRoutes(
  app: FastifyInstance,
  payments: PaymentService,
  receipts: Receipts,
): void {
  app.get<{ Params: { id: string } }>(
    '/api/payments/:id/receipt',
    { config: { priority: 'normal' } },
    async (request) => {
      const { id } = request.params;
      if (!UUID_PATTERN.test(id))
        throw new ApiError('PAYMENT_NOT_FOUND', `payment ${id} does not exist`);
      const payment = await payments.get(id);
      if (payment.status === 'pending') {
        throw new ApiError(
          'PAYMENT_PENDING',
          `payment ${id} is pending: its receipt exists once the outcome is final`,
        );
      }
      const { items } = await payments.list(payment.user_id, RECEIPT_HISTORY, undefined);
      return receipts.sign(payment, items);
    },
  );
}
