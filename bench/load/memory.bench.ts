/**
 * Memory of a long open-model run: heap and RSS sampled every second while `load()` drives a
 * trivial node:http server (in a child process) at a fixed rate. Histograms have fixed bucket
 * arrays and the timeline one small point per second, so after warm-up the heap should stay
 * flat: the bench prints the heap at 10 s and at the end and the fitted slope per minute.
 *
 *   npm run bench -- load --filter memory      (MEMORY_SECONDS=60, MEMORY_RATE=3000)
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { load } from 'hotpath/load';
import { writeResult } from '../lib/report.js';

const SECONDS = Number(process.env.MEMORY_SECONDS ?? 60);
const RATE = Number(process.env.MEMORY_RATE ?? 3000);

const SERVER = `
const { createServer } = require('node:http');
const server = createServer((req, res) => res.end('hello world'));
server.keepAliveTimeout = 60000;
server.listen(0, '127.0.0.1', () => process.send(server.address().port));
`;

const child = spawn(process.execPath, ['-e', SERVER], {
  stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
});
const [port] = (await once(child, 'message')) as [number];
const samples: { second: number; heapMiB: number; rssMiB: number }[] = [];
try {
  const result = await load(
    { url: `http://127.0.0.1:${port}/`, rate: RATE, durationMs: SECONDS * 1000, connections: 100 },
    {
      onProgress: (p) => {
        const m = process.memoryUsage();
        samples.push({
          second: p.elapsedSeconds,
          heapMiB: m.heapUsed / 2 ** 20,
          rssMiB: m.rss / 2 ** 20,
        });
      },
    },
  );
  // Least-squares slope of heap over time after the first 10 s (warm-up, JIT).
  const tail = samples.filter((s) => s.second > 10);
  const n = tail.length;
  const mx = tail.reduce((a, s) => a + s.second, 0) / n;
  const my = tail.reduce((a, s) => a + s.heapMiB, 0) / n;
  const slope =
    tail.reduce((a, s) => a + (s.second - mx) * (s.heapMiB - my), 0) /
    tail.reduce((a, s) => a + (s.second - mx) ** 2, 0);
  const at10 = samples.find((s) => s.second === 10);
  const last = samples.at(-1);
  console.log(`${result.completed} requests at ${RATE} req/s for ${SECONDS} s`);
  console.log(
    `heap at 10 s ${at10?.heapMiB.toFixed(1)} MiB, at ${last?.second} s ${last?.heapMiB.toFixed(1)} MiB; fitted slope ${(slope * 60).toFixed(2)} MiB/min; RSS at end ${last?.rssMiB.toFixed(0)} MiB`,
  );
  writeResult('load-memory', {
    seconds: SECONDS,
    rate: RATE,
    slopeMiBPerMinute: slope * 60,
    samples,
  });
} finally {
  child.kill();
}
