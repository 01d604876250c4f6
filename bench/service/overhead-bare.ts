/**
 * The rival of bench/service/overhead.bench.ts: a bare Fastify app with no plugins, no logger
 * and no hooks, serving the same two answers as the payments service's cheapest routes:
 * `GET /health/live` ({ status: 'ok' }) and `GET /api/payments/:id`, a payment read from a Map
 * (what the service answers from its L1 cache). Prints `listening <port>` once it listens.
 *
 * `BARE_WITH` adds one part of the service at a time (comma-separated), configured as the
 * service configures it, so the bench can charge each part its own cost:
 *   logger       Fastify's pino logger at info, request logging off, each request's child
 *                made only when it logs (the service's settings)
 *   metrics      hotpath/metrics' fastifyMetrics (request histograms, in-flight, /metrics)
 *   n-plus-one   each handler in an NPlusOneDetector scope (hotpath/db, AsyncLocalStorage)
 *   compression  hotpath/http's fastifyCompression (size threshold, weak ETag, 304)
 *   shedding     hotpath/resilience's fastifyLoadShedder, its sampler reporting an idle loop:
 *                the per-request check of a service that is not shedding
 *
 *   node --conditions=source --import tsx bench/service/overhead-bare.ts [port]
 */
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import { NPlusOneDetector } from 'hotpath/db';
import { fastifyCompression } from 'hotpath/http';
import { fastifyMetrics, MetricsRegistry, RequestMetrics } from 'hotpath/metrics';
import { fastifyLoadShedder, LoadShedder } from 'hotpath/resilience';
import { lazyChildLoggerFactory } from '../../service/plugins/request-logger.js';

const parts = new Set((process.env.BARE_WITH ?? '').split(',').filter((p) => p !== ''));
for (const part of parts) {
  if (!['logger', 'metrics', 'n-plus-one', 'compression', 'shedding'].includes(part)) {
    console.error(`overhead-bare: unknown BARE_WITH part "${part}"`);
    process.exit(2);
  }
}

const payments = new Map<string, Record<string, unknown>>();

const app: FastifyInstance = parts.has('logger')
  ? (Fastify({
      logger: { level: 'info' },
      logController: new LogController({ disableRequestLogging: true }),
      childLoggerFactory: lazyChildLoggerFactory,
    }) as unknown as FastifyInstance)
  : (Fastify({ logger: false }) as unknown as FastifyInstance);

if (parts.has('shedding')) {
  const idle = { delayMs: 0, utilization: 0 };
  const shedder = new LoadShedder({
    name: 'bench',
    sampler: { sample: () => idle, close: () => {} },
  });
  await app.register(fastifyLoadShedder, {
    shedder,
    defaultPriority: 'low',
    neverShed: ['/health'],
  });
}
if (parts.has('compression'))
  await app.register(fastifyCompression, { minBytes: 1024, immutableBuffers: true });
if (parts.has('metrics')) {
  const registry = new MetricsRegistry();
  await app.register(fastifyMetrics, { requests: new RequestMetrics({ registry }), registry });
}
if (parts.has('n-plus-one')) {
  // As the service scopes its routes: a handler wrapper set when the route is declared.
  const detector = new NPlusOneDetector({ threshold: 5 });
  app.addHook('onRoute', (route) => {
    const handler = route.handler;
    const label = `${String(route.method)} ${route.url}`;
    route.handler = function scoped(this: FastifyInstance, request, reply) {
      return detector.run(label, () => handler.call(this, request, reply));
    };
  });
}

app.get('/health/live', async () => ({ status: 'ok' }));
app.get<{ Params: { id: string } }>('/api/payments/:id', async (request, reply) => {
  const payment = payments.get(request.params.id);
  if (payment === undefined) return reply.code(404).send({ code: 'PAYMENT_NOT_FOUND' });
  return payment;
});
// The bench copies the service's payment here, so both answer the same bytes.
app.put<{ Params: { id: string }; Body: Record<string, unknown> }>(
  '/api/payments/:id',
  async (request) => {
    payments.set(request.params.id, request.body);
    return { stored: request.params.id };
  },
);

await app.listen({ host: '127.0.0.1', port: Number(process.argv[2] ?? 0) });
const address = app.server.address();
console.log(`listening ${typeof address === 'object' && address !== null ? address.port : ''}`);
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
