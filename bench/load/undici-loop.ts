/**
 * The undici alternative to hotpath load's raw sockets, for bench/load/generators.bench.ts:
 * a closed-model loop of `connections` concurrent requests over one undici Pool, timing each
 * request and recording it in the same histogram, as a load generator built on undici would.
 *
 *   node --conditions=source --import tsx bench/load/undici-loop.ts URL CONNECTIONS SECONDS
 */
import { Histogram } from 'hotpath/metrics';
import { Pool } from 'undici';

const [url, connectionsArg, secondsArg] = process.argv.slice(2);
const connections = Number(connectionsArg ?? 50);
const deadline = performance.now() + Number(secondsArg ?? 8) * 1000;
const target = new URL(url ?? 'http://127.0.0.1:3000/');
const pool = new Pool(target.origin, { connections, pipelining: 1 });
const latency = new Histogram({ lowest: 1, highest: 3.6e9, precision: 0.01 });
let completed = 0;

async function worker(): Promise<void> {
  while (performance.now() < deadline) {
    const t0 = performance.now();
    const { body } = await pool.request({ path: target.pathname, method: 'GET' });
    await body.dump();
    latency.record((performance.now() - t0) * 1000);
    completed++;
  }
}

await Promise.all(Array.from({ length: connections }, () => worker()));
await pool.close();
console.log(JSON.stringify({ completed, p99: latency.percentile(99) }));
