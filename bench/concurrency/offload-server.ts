/**
 * The server of bench/concurrency/offload.bench.ts, one process per mode: a minimal Fastify app
 * on 127.0.0.1 with the payments service's receipt signer (RECEIPTS=inline or pool) and a
 * cheap route, plus /loop-delay for the event-loop delay p99 since the last call.
 *
 *   node --conditions=source --import tsx bench/concurrency/offload-server.ts inline|pool
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import Fastify from 'fastify';
import type { Payment } from '../../service/payments/payment.js';
import { Receipts } from '../../service/receipts/receipts.js';

const mode = process.argv[2] === 'inline' ? 'inline' : 'pool';
const receipts = new Receipts({ mode, threads: 1 });

function payment(n: number): Payment {
  return {
    id: `0190b3c2-0000-7000-8000-${String(n).padStart(12, '0')}`,
    user_id: 7,
    amount: 100 * n,
    currency: 'EUR',
    status: 'authorized',
    gateway_ref: `g${n}`,
    failure_reason: null,
    created_at: '2026-01-01T00:00:00.000Z',
    updated_at: '2026-01-01T00:00:01.000Z',
  };
}
const history = Array.from({ length: 100 }, (_, i) => payment(100 - i));

const delay = monitorEventLoopDelay({ resolution: 1 });
delay.enable();
const app = Fastify({ logger: false });
app.get('/receipt', async () => receipts.sign(payment(1), history));
app.get('/cheap', async () => ({ ok: true }));
app.get('/loop-delay', async () => {
  const p99Ms = delay.percentile(99) / 1e6;
  delay.reset();
  return { p99Ms };
});
app.addHook('onClose', () => receipts.close());
// Warm the pool's thread before measuring.
await receipts.sign(payment(1), history);
await app.listen({ host: '127.0.0.1', port: 0 });
const address = app.server.address();
if (address === null || typeof address === 'string') throw new Error('no port');
process.stdout.write(`${JSON.stringify({ port: address.port })}\n`);
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
