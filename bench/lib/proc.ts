/**
 * CPU time of another process, read from /proc (Linux): what the benches use to charge a
 * server or a load generator for its own work only, whatever else the machine runs.
 */
import { readFileSync } from 'node:fs';

/** Clock ticks per second of /proc/<pid>/stat times (`getconf CLK_TCK` on Linux). */
const TICKS = 100;

/** User and kernel CPU-seconds a process has used, all its threads. */
export function processCpuTimes(pid: number): { user: number; system: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { user: Number(fields[11]) / TICKS, system: Number(fields[12]) / TICKS };
}

/** Smallest CPU time /proc can tell apart, in seconds. */
export const CPU_TICK_SECONDS = 1 / TICKS;
