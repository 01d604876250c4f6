/**
 * What waking an idle Node process costs on this machine: the CPU per second of a process that
 * does nothing but one periodic timer, each variant in a fresh process for WINDOW_S seconds.
 * A process serving requests at a low rate pays about this per request, which is why CPU per
 * request depends on each process's rate (docs/scale.md, CPU per request behind HAProxy).
 *
 *   npm run bench -- service --filter wakeup-cost
 */
import { execFileSync } from 'node:child_process';
import { writeResult } from '../lib/report.js';

const WINDOW_S = Number(process.env.WINDOW_S ?? 5);

const child = `
const mode = process.argv[1];
if (mode === 'interval-10ms') setInterval(() => performance.now(), 10);
if (mode === 'interval-20ms') setInterval(() => performance.now(), 20);
if (mode === 'monitorEventLoopDelay-10ms') {
  require('node:perf_hooks').monitorEventLoopDelay({ resolution: 10 }).enable();
}
const keepAlive = setInterval(() => {}, 1e9);
const start = process.cpuUsage();
setTimeout(() => {
  const used = process.cpuUsage(start);
  console.log(((used.user + used.system) / 1000 / ${WINDOW_S}).toFixed(2));
  clearInterval(keepAlive);
  process.exit(0);
}, ${WINDOW_S * 1000});
`;

const modes = ['none', 'interval-10ms', 'interval-20ms', 'monitorEventLoopDelay-10ms'];
const result: Record<string, number> = {};
console.log(
  `CPU per second of an otherwise idle process, ${WINDOW_S} s each (node ${process.version}):`,
);
for (const mode of modes) {
  const out = execFileSync(process.execPath, ['-e', child, mode], { encoding: 'utf8' });
  result[mode] = Number(out.trim());
  console.log(`  ${mode.padEnd(28)} ${result[mode]!.toFixed(2)} ms CPU/s`);
}
writeResult('service-wakeup-cost', result);
