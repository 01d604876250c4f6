/**
 * A Fastify server with one cached read route, with or without hotpath request
 * instrumentation (argv[2] = "on" | "off"). Prints its port on stdout; exits on SIGTERM.
 * Used by instrumentation.bench.ts.
 */
import Fastify from 'fastify';
import { fastifyMetrics, RequestMetrics } from 'hotpath/metrics';

const instrumented = process.argv[2] === 'on';
const app = Fastify({ logger: false });
let requests: RequestMetrics | undefined;
if (instrumented) {
  requests = new RequestMetrics({ slowMs: Infinity });
  await app.register(fastifyMetrics, { requests });
} else {
  // The baseline registers a plugin too: any `await app.register()` before the routes changes
  // Fastify's per-request CPU by several microseconds on this route (measured with an empty
  // plugin), which is not instrumentation cost and every real service pays anyway.
  await app.register(
    Object.assign((_fastify: unknown, _options: unknown, done: () => void) => done(), {
      [Symbol.for('skip-override')]: true,
    }),
  );
}
const cache = new Map<string, { id: string; amount: number; currency: string; status: string }>();
for (let i = 0; i < 1000; i++) {
  cache.set(String(i), { id: String(i), amount: 1000 + i, currency: 'EUR', status: 'captured' });
}
app.get('/api/payments/:id', async (request, reply) => {
  const hit = cache.get((request.params as { id: string }).id);
  if (hit === undefined) return reply.code(404).send({ code: 'NOT_FOUND', message: 'no payment' });
  return hit;
});
await app.listen({ host: '127.0.0.1', port: 0 });
const address = app.server.address();
process.stdout.write(`${typeof address === 'object' && address ? address.port : 0}\n`);
process.once('SIGTERM', () => {
  void app.close().then(() => requests?.close());
});
