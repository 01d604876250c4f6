/**
 * Shared bench harness: run rivals interleaved over rounds, take medians, print ratios with
 * the Node version and CPU, and write the JSON result to bench/results/<name>.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { resolve } from 'node:path';

export interface BenchEnvironment {
  node: string;
  cpu: string;
  cores: number;
  date: string;
}

export function environment(): BenchEnvironment {
  return {
    node: process.version,
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    date: new Date().toISOString(),
  };
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * Runs each candidate's `fn` for `rounds` rounds, interleaved (A B C, A B C, ...) so drift in
 * machine load hits every candidate alike. `fn` returns the ops/s of one round.
 */
export async function interleave(
  candidates: Record<string, () => Promise<number> | number>,
  rounds: number,
): Promise<Record<string, { median: number; rounds: number[] }>> {
  const samples: Record<string, number[]> = {};
  for (const name of Object.keys(candidates)) samples[name] = [];
  for (let r = 0; r < rounds; r++) {
    for (const [name, fn] of Object.entries(candidates)) samples[name]!.push(await fn());
  }
  return Object.fromEntries(
    Object.entries(samples).map(([n, s]) => [n, { median: median(s), rounds: s }]),
  );
}

/** Writes bench/results/<name>.json and prints where. */
export function writeResult(name: string, result: unknown): string {
  const dir = resolve(import.meta.dirname, '..', 'results');
  mkdirSync(dir, { recursive: true });
  const path = resolve(dir, `${name}.json`);
  writeFileSync(path, JSON.stringify({ environment: environment(), result }, null, 2));
  console.log(`wrote ${path}`);
  return path;
}

/** Prints a table of medians and ratios against `baseline`. */
export function printRatios(
  title: string,
  medians: Record<string, number>,
  unit: string,
  ours: string,
): void {
  const env = environment();
  console.log(`${title}  (node ${env.node}, ${env.cpu}, ${env.cores} cores)`);
  const base = medians[ours] ?? NaN;
  const width = Math.max(...Object.keys(medians).map((k) => k.length));
  for (const [name, value] of Object.entries(medians)) {
    const ratio = name === ours ? '' : `   ${ours} = ${(base / value).toFixed(2)}x`;
    console.log(`  ${name.padEnd(width)}  ${formatNumber(value)} ${unit}${ratio}`);
  }
}

function formatNumber(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}k`;
  return n.toFixed(2);
}
