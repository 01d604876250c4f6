/**
 * The server of bench/concurrency/offload.bench.ts, one process per mode: the payments service
 * (`buildApp`, read cache on, the gateway stubbed since no route here charges) on a PostgreSQL
 * database the bench seeded, with RECEIPTS=inline or pool (one worker thread, the service's
 * default), listening on 127.0.0.1. It adds GET /loop-delay: the event-loop delay p99 since
 * the last call, then resets.
 *
 *   node --conditions=source --import tsx bench/concurrency/offload-server.ts inline|pool DATABASE_URL
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { connectPostgres } from 'hotpath/db';
import { buildTestApp } from '../../test/helpers/app.js';

const mode = process.argv[2] === 'inline' ? 'inline' : 'pool';
const databaseUrl = process.argv[3];
if (databaseUrl === undefined) throw new Error('usage: offload-server.ts inline|pool DATABASE_URL');

const db = await connectPostgres(databaseUrl, { max: 8 });
const gateway = {
  charge: () => Promise.resolve({ status: 'authorized' as const, reference: 'ch_bench' }),
};
const app = await buildTestApp({ receipts: mode, cache: 'on' }, { db, gateway });
const delay = monitorEventLoopDelay({ resolution: 1 });
delay.enable();
app.get('/loop-delay', async () => {
  const p99Ms = delay.percentile(99) / 1e6;
  delay.reset();
  return { p99Ms };
});
await app.listen({ host: '127.0.0.1', port: 0 });
const address = app.server.address();
if (address === null || typeof address === 'string') throw new Error('no port');
process.stdout.write(`${JSON.stringify({ port: address.port })}\n`);
process.on('SIGTERM', () => {
  void app
    .close()
    .then(() => db.close())
    .then(() => process.exit(0));
});
