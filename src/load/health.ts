/**
 * Judges whether a result measured the server or the generator, and says so in plain words.
 */
import type { CoordinatedOmission, LoadResult } from './result.js';

/** Event-loop utilization above which the generator's thread counts as saturated. */
export const SATURATED_ELU = 0.9;
/** Share of late sends above which the open model counts as behind schedule ... */
export const LATE_SHARE = 0.01;
/** ... provided there are at least this many (one late send in 50 is not a trend). */
export const LATE_MIN = 10;

const ms = (us: number) => `${(us / 1000).toFixed(us < 10_000 ? 2 : 1)} ms`;
const pct = (x: number) => `${(x * 100).toFixed(x < 0.1 ? 2 : 1)}%`;

/** Fills `result.generator.isBottleneck` and `warnings` (in place) and returns `result`. */
export function assessHealth(result: LoadResult): LoadResult {
  const g = result.generator;
  const warnings: string[] = [];
  let isBottleneck = false;
  if (g.eventLoopUtilization > SATURATED_ELU) {
    isBottleneck = true;
    warnings.push(
      `The generator was the bottleneck: its event loop was busy ${pct(g.eventLoopUtilization)} of the time, so throughput and latency may describe the generator, not the server (use --workers or fewer connections).`,
    );
  }
  if (
    result.model === 'open' &&
    g.lateSends >= LATE_MIN &&
    g.lateSends / result.sent > LATE_SHARE
  ) {
    isBottleneck = true;
    warnings.push(
      `The generator fell behind its schedule: ${g.lateSends} requests (${pct(g.lateSends / result.sent)}) went out more than 5 ms late although a connection was free (p99 send lag ${ms(g.sendLagP99)})${
        g.eventLoopUtilization < 0.5
          ? `; its event loop was only ${pct(g.eventLoopUtilization)} busy, so other processes on this machine held the CPU`
          : ''
      }.`,
    );
  }
  if (result.model === 'open' && g.waitedForConnection > 0) {
    warnings.push(
      `${g.waitedForConnection} requests (${pct(g.waitedForConnection / Math.max(1, result.sent))}) waited for a free connection: all ${result.connections} were busy. Their latency counts from the intended send time, so the wait is included; raise --connections if the server should see more concurrency.`,
    );
  }
  const co = result.coordinatedOmission;
  if (co?.isAffected) {
    warnings.push(
      `Closed-model latency is affected by coordinated omission: some responses took up to ${ms(result.latency.max)} while each connection waited instead of sending; clients arriving at a steady rate would see about p99 ${ms(co.correctedP99)} and p99.9 ${ms(co.correctedP999)} instead of p99 ${ms(result.latency.percentiles['99'] ?? 0)}. Use --rate to measure latency at a given load.`,
    );
  }
  if (result.rate !== null && result.durationMs >= 1000) {
    const achieved = result.requestsPerSecond;
    if (achieved < result.rate * 0.9 && result.completed > 0) {
      warnings.push(
        `Throughput ${achieved.toFixed(0)} req/s stayed below the target ${result.rate} req/s.`,
      );
    }
  }
  if (result.unfinished > 0) {
    warnings.push(`${result.unfinished} requests were still unanswered when the run ended.`);
  }
  g.isBottleneck = isBottleneck || g.isBottleneck;
  g.warnings = [...new Set([...g.warnings, ...warnings])];
  return result;
}

/** Builds the closed model's coordinated-omission estimate from measured and corrected p99. */
export function coordinatedOmission(
  measuredP99: number,
  correctedP99: number,
  correctedP999: number,
): CoordinatedOmission {
  return {
    correctedP99,
    correctedP999,
    // Twice the measured p99 and at least a millisecond more: well outside the histogram's 1%.
    isAffected: correctedP99 >= 2 * measuredP99 && correctedP99 - measuredP99 >= 1000,
  };
}
