/**
 * Drives variants of the payments service (same routes, one switch apart) in interleaved
 * rounds with hotpath/load's closed model, and prints their median throughput and latency.
 */
import { load, type LoadResult, type RequestMix } from 'hotpath/load';
import { environment, median } from './report.js';

export interface RoundsOptions {
  /** Variant name -> base URL of a service listening on 127.0.0.1. */
  urls: Record<string, string>;
  mix: RequestMix;
  connections: number;
  rounds: number;
  roundMs: number;
}

export interface VariantSummary {
  rps: number;
  p50Ms: number;
  p99Ms: number;
}

/**
 * Runs every variant once per round, in turn, so drift in machine load hits all alike.
 * @throws Error when any response is not a 200: a broken variant must not look fast.
 */
export async function driveRounds(options: RoundsOptions): Promise<Record<string, LoadResult[]>> {
  const samples: Record<string, LoadResult[]> = {};
  for (const name of Object.keys(options.urls)) samples[name] = [];
  for (let round = 0; round < options.rounds; round++) {
    for (const [name, url] of Object.entries(options.urls)) {
      const result = await load({
        url,
        mix: options.mix,
        connections: options.connections,
        durationMs: options.roundMs,
        warmupMs: 500,
        seed: round,
      });
      const bad = Object.entries(result.statuses).filter(([code]) => code !== '200');
      if (bad.length > 0) {
        throw new Error(`${name}: unexpected statuses ${JSON.stringify(result.statuses)}`);
      }
      samples[name]!.push(result);
    }
  }
  return samples;
}

/** Prints `title` with the environment, then one line of medians per variant; returns them. */
export function summarizeRounds(
  title: string,
  samples: Record<string, LoadResult[]>,
): Record<string, VariantSummary> {
  const env = environment();
  console.log(`${title}, median  (node ${env.node}, ${env.cpu}, ${env.cores} cores)`);
  const width = Math.max(...Object.keys(samples).map((n) => n.length));
  const summary: Record<string, VariantSummary> = {};
  for (const [name, results] of Object.entries(samples)) {
    const s: VariantSummary = {
      rps: median(results.map((r) => r.requestsPerSecond)),
      p50Ms: median(results.map((r) => r.latency.percentiles['50']! / 1000)),
      p99Ms: median(results.map((r) => r.latency.percentiles['99']! / 1000)),
    };
    summary[name] = s;
    console.log(
      `  ${name.padEnd(width)}  ${s.rps.toFixed(0).padStart(7)} req/s   p50 ${s.p50Ms.toFixed(2)} ms   p99 ${s.p99Ms.toFixed(2)} ms`,
    );
  }
  return summary;
}
