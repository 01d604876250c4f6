/**
 * Three plain `node:http` servers in one process with the same JSON route: one bare, one
 * wrapped by `instrumentHttp`, and one wrapped the usual way (a `close` listener on every
 * response recording into the same RequestMetrics). Prints `<off> <instrumentHttp> <close
 * listener>` ports on stdout; runs until killed. Used by instrumentation.bench.ts.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { instrumentHttp, RequestMetrics } from 'hotpath/metrics';

const requests = new RequestMetrics({ slowMs: Infinity });
const route = (): string => '/api/payments/:id';
const body = JSON.stringify({ id: '42', amount: 1042, currency: 'EUR', status: 'captured' });

function handler(_request: IncomingMessage, response: ServerResponse): void {
  response.setHeader('content-type', 'application/json');
  response.end(body);
}

function closeListener(request: IncomingMessage, response: ServerResponse): void {
  const start = performance.now();
  requests.inFlight++;
  response.once('close', () => {
    requests.inFlight--;
    const status = response.writableFinished ? response.statusCode : 499;
    requests.observe(request.method ?? 'GET', route(), status, performance.now() - start);
  });
  handler(request, response);
}

const servers = [
  createServer(handler),
  createServer(instrumentHttp(handler, { requests, route })),
  createServer(closeListener),
];
const ports: number[] = [];
for (const server of servers) {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  ports.push(typeof address === 'object' && address !== null ? address.port : 0);
}
process.stdout.write(`${ports.join(' ')}\n`);
