/**
 * A plain `node:http` server answering every request with one payment's JSON (~250 B), as
 * the gateway or any small JSON API would. Prints its port on stdout; runs until killed.
 * Used by client.bench.ts, which runs it in a child process so the client's CPU is its own.
 */
import { createServer } from 'node:http';
import { payment } from './payloads.js';

const body = JSON.stringify(payment(1));
const server = createServer((_request, response) => {
  response.setHeader('content-type', 'application/json');
  response.end(body);
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(`${typeof address === 'object' && address !== null ? address.port : 0}\n`);
});
