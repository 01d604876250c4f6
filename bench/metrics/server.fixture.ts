/**
 * Two Fastify apps in one process, each with the same cached read route: one with hotpath's
 * request instrumentation, one without. Sharing the process, they share the JIT's code for
 * Fastify and Node's HTTP server, so the difference between them is the plugin's, not two
 * processes' luck in how that code got compiled (which moved a bare server's CPU per request
 * by up to 4 µs between processes on this machine). argv[2] = "on-first" | "off-first" sets
 * which app is built first. Prints `<off port> <on port>` on stdout; exits on SIGTERM.
 * Used by instrumentation.bench.ts.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { fastifyMetrics, RequestMetrics } from 'hotpath/metrics';

const requests = new RequestMetrics({ slowMs: Infinity });

async function build(instrumented: boolean): Promise<FastifyInstance> {
  const app = Fastify({ logger: false });
  if (instrumented) {
    await app.register(fastifyMetrics, { requests });
  } else {
    // The baseline registers a plugin too: any `await app.register()` before the routes
    // changes Fastify's per-request CPU (measured with an empty plugin), which is not
    // instrumentation cost and every real service pays anyway.
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
    if (hit === undefined) {
      return reply.code(404).send({ code: 'NOT_FOUND', message: 'no payment' });
    }
    return hit;
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  return app;
}

const port = (app: FastifyInstance): number => {
  const address = app.server.address();
  return typeof address === 'object' && address !== null ? address.port : 0;
};

const onFirst = process.argv[2] === 'on-first';
const first = await build(onFirst);
const second = await build(!onFirst);
const [on, off] = onFirst ? [first, second] : [second, first];
process.stdout.write(`${port(off)} ${port(on)}\n`);
process.once('SIGTERM', () => {
  void Promise.all([on.close(), off.close()]).then(() => requests.close());
});
